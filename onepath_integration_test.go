package ox_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/internal/testenv"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/trust"
)

// One rule, every path: a key the user rejected, a key the user has not
// decided on, and a key its owner does not announce are treated the same
// by every way a message goes out (send, room send, encrypt) and every way
// one comes in (listen, decrypt).
func TestIntegrationOnePath(t *testing.T) {
	onEachServer(t, testIntegrationOnePath, "alice", "bob", "carol", "dave")
}

func testIntegrationOnePath(t *testing.T, srv *testenv.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*testTimeout)
	defer cancel()

	aliceDir := t.TempDir()
	aliceIn := make(inbox, 32)
	alice := newDeviceAt(ctx, t, srv, "alice", aliceDir, true, func(c *ox.Client) { c.OnMessage = func(m *ox.Message) { aliceIn <- m } }, nil)
	if _, err := alice.Publish(ctx, alice.key.Fingerprint); err != nil {
		t.Fatal(err)
	}
	if err := alice.Online(ctx); err != nil {
		t.Fatal(err)
	}
	bob, _ := listening(ctx, t, srv, "bob")     // signs with a key he does not announce
	carol, _ := listening(ctx, t, srv, "carol") // alice rejects her key
	dave, _ := listening(ctx, t, srv, "dave")   // alice takes back her decision on his key

	// bob has two keys: the one that signs what he sends (the newest) is
	// not among those his metadata node announces; alice has it stored all
	// the same (say, imported by hand).
	second, err := bob.Backend.Generate(ctx, bob.jid, pgp.GenerateOptions{Expiry: pgp.DefaultExpiry})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := bob.SigningKey(ctx) // keys made in the same second: either may be "newest"
	if err != nil {
		t.Fatal(err)
	}
	if signer == bob.key.Fingerprint {
		if _, err := bob.Publish(ctx, second.Fingerprint); err != nil {
			t.Fatal(err)
		}
		if err := bob.Unpublish(ctx, bob.key.Fingerprint); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []*device{bob, carol, dave} {
		if _, err := alice.Fetch(ctx, d.jid); err != nil {
			t.Fatal(err)
		}
	}
	if ann, err := alice.Announced(ctx, bob.jid); err != nil || slices.Contains(ann, signer.String()) || len(ann) != 1 {
		t.Fatalf("bob announces %v (%v); his signing key %s must not be among them", ann, err, signer)
	}
	pub, err := bob.Backend.ExportPublic(ctx, signer, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Backend.Import(ctx, pub); err != nil {
		t.Fatal(err)
	}
	if err := alice.SetTrust(ctx, carol.jid, carol.key.Fingerprint, trust.Rejected, ox.ReasonByUser); err != nil {
		t.Fatal(err)
	}
	if err := alice.SetTrust(ctx, dave.jid, dave.key.Fingerprint, trust.Undecided, ox.ReasonByUser); err != nil {
		t.Fatal(err)
	}

	// alice offline, over the same store: what 'ox encrypt' and 'ox
	// decrypt' use.
	offline, err := ox.OpenLocal(ctx, ox.LocalOptions{JID: alice.jid, Dir: aliceDir})
	if err != nil {
		t.Fatal(err)
	}
	defer offline.Close()

	// The room: everyone in it.
	room := jid.MustParse("onepath@" + srv.MUCDomain)
	ar, err := alice.Rooms.Join(ctx, room, "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*device{bob, carol, dave} {
		if _, err := d.Rooms.Join(ctx, room, d.jid.Localpart()); err != nil {
			t.Fatal(err)
		}
	}
	waitOccupants(t, ar, 4)
	group, err := alice.Rooms.SendGroup(ctx, ar, "to the room")
	if err != nil {
		t.Fatal(err)
	}
	if m := aliceIn.next(t, "the room reflects alice's message"); !m.Sent || m.Body != "to the room" {
		t.Fatalf("alice got %+v", m)
	}
	groupKeys := map[string][]pgp.Fingerprint{}
	groupMissing := map[string]string{}
	for _, p := range group.Recipients {
		groupKeys[p.JID.String()] = p.Keys
	}
	for _, p := range group.Missing {
		groupMissing[p.JID.String()] = p.Reason
	}

	// Each case: a contact, what alice's sending paths must do, and what
	// her receiving paths must make of what the contact signs.
	type sent struct {
		keys []pgp.Fingerprint // what was encrypted to
		err  error
	}
	cases := []struct {
		name     string
		who      *device
		never    pgp.Fingerprint // never among the recipients
		sendErr  bool            // sending to them fails (no other key)
		inErr    func(error) bool
		inTrust  trust.State
		inReason string
	}{
		{
			name: "rejected", who: carol, never: carol.key.Fingerprint, sendErr: true,
			inErr: func(err error) bool { var te *ox.TrustError; return errors.As(err, &te) },
		},
		{
			name: "undecided", who: dave, never: dave.key.Fingerprint, sendErr: true,
			inErr: func(err error) bool { return err == nil }, inTrust: trust.Undecided,
		},
		{
			name: "unannounced", who: bob, never: signer, sendErr: false,
			inErr: func(err error) bool { return err != nil && strings.Contains(err.Error(), "announce") },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			to := tc.who.jid
			// Out: send, encrypt (offline), room send.
			var paths = map[string]sent{}
			rep, err := alice.Send(ctx, to, "hello")
			if rep != nil {
				paths["send"] = sent{rep.Recipients, err}
			} else {
				paths["send"] = sent{nil, err}
			}
			_, erep, err := offline.Encrypt(ctx, []jid.JID{to}, "hello")
			if erep != nil {
				paths["encrypt"] = sent{erep.Recipients, err}
			} else {
				paths["encrypt"] = sent{nil, err}
			}
			if reason, missing := groupMissing[to.String()]; missing {
				paths["room send"] = sent{nil, errors.New(reason)}
			} else {
				paths["room send"] = sent{groupKeys[to.String()], nil}
			}
			for path, s := range paths {
				if slices.Contains(s.keys, tc.never) {
					t.Errorf("%s: encrypted to %s", path, tc.never)
				}
				if (s.err != nil) != tc.sendErr {
					t.Errorf("%s: error %v, want an error: %v", path, s.err, tc.sendErr)
				}
			}

			// In: listen (live) and decrypt (offline).
			if _, err := tc.who.Send(ctx, alice.jid, "from "+tc.name); err != nil {
				t.Fatal(err)
			}
			live := aliceIn.next(t, tc.name+" -> alice")
			el, _, err := tc.who.Encrypt(ctx, []jid.JID{alice.jid}, "from "+tc.name)
			if err != nil {
				t.Fatal(err)
			}
			dec, err := offline.Decrypt(ctx, el, ox.DecryptOptions{From: tc.who.jid})
			if err != nil {
				t.Fatal(err)
			}
			for path, m := range map[string]*ox.Message{"listen": live, "decrypt": dec} {
				if !tc.inErr(m.Err) {
					t.Errorf("%s: %q, verdict %v", path, m.Body, m.Err)
				}
				if m.Err == nil && (m.Trust != tc.inTrust || m.Body != "from "+tc.name) {
					t.Errorf("%s: %q with trust %s, want %s", path, m.Body, m.Trust, tc.inTrust)
				}
				if m.Err != nil && m.Body != "" {
					t.Errorf("%s: a refused message shows its body %q", path, m.Body)
				}
			}
		})
	}
}
