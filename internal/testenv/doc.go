// Package testenv runs integration tests against every XMPP server ox is
// tested with: Prosody (internal/prosody) and ejabberd (internal/ejabberd).
//
// A Server has the same fields and methods whichever server is behind it, so
// a suite written for one runs on both:
//
//	testenv.ForEachServer(t, testenv.Users("alice", "bob"), func(t *testing.T, srv *testenv.Server) {
//		sess, err := srv.Dial(ctx, "alice", "alice-pass", "")
//		...
//	})
//
// ForEachServer runs subtests named "prosody" and "ejabberd". Each skips when
// its server is not installed, unless CI is set or OX_REQUIRE_INTEGRATION=1,
// in which case a missing server fails the test.
package testenv
