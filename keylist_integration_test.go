package ox_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/internal/testenv"
	"codeberg.org/ox/ox/pep"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/trust"
)

// A hostile or broken PEP service can neither make ox fetch without bound
// nor silence a contact (issue 12 item 4, issue 18 item 5):
//   - a key list of 1,000 fingerprints is cut to MaxKeysPerContact, the
//     known key kept, one warning event, nothing beyond the cap fetched;
//   - the account's own poisoned list is not published back beyond the cap;
//   - a data node turned to garbage leaves the last good copy in use (a
//     warning event), the contact's messages accepted, the decision kept.
func TestIntegrationHostileKeyList(t *testing.T) {
	onEachServer(t, testIntegrationHostileKeyList, "alice", "bob")
}

func testIntegrationHostileKeyList(t *testing.T, srv *testenv.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	in := make(inbox, 32)
	events := make(chan ox.KeyChange, 4096)
	alice := newDeviceWith(ctx, t, srv, "alice", true, func(c *ox.Client) {
		c.OnMessage = func(m *ox.Message) { in <- m }
		c.OnKeyChange = func(k ox.KeyChange) { events <- k }
	})
	if _, err := alice.Publish(ctx, alice.key.Fingerprint); err != nil {
		t.Fatal(err)
	}
	if err := alice.Online(ctx); err != nil {
		t.Fatal(err)
	}
	bob, _ := listening(ctx, t, srv, "bob")
	bobFpr := bob.key.Fingerprint.String()
	if _, err := alice.Fetch(ctx, bob.jid); err != nil {
		t.Fatal(err)
	}
	if err := alice.SetTrust(ctx, bob.jid, bob.key.Fingerprint, trust.Verified, ox.ReasonByUser); err != nil {
		t.Fatal(err)
	}
	drain := func() []ox.KeyChange {
		var out []ox.KeyChange
		for {
			select {
			case k := <-events:
				out = append(out, k)
			default:
				return out
			}
		}
	}
	drain()

	// 999 made-up fingerprints ahead of bob's real one.
	date := time.Now().UTC().Truncate(time.Second).Add(time.Minute)
	var list element.PublicKeysList
	for i := 0; i < 999; i++ {
		b := make([]byte, 20)
		rand.Read(b)
		list.Keys = append(list.Keys, element.PubKeyMetadata{Fingerprint: strings.ToUpper(hex.EncodeToString(b)), Date: date})
	}
	list.Keys = append(list.Keys, element.PubKeyMetadata{Fingerprint: bobFpr, Date: date})
	publishList(ctx, t, bob, list)

	rep, err := alice.Fetch(ctx, bob.jid)
	if err != nil {
		t.Fatal(err)
	}
	max := ox.DefaultMaxKeysPerContact
	if rep.Dropped != 1000-max || len(rep.Announced) != max || len(rep.Warnings) != 1 {
		t.Fatalf("dropped %d, taken %d, warnings %q: want %d dropped, %d taken, one warning", rep.Dropped, len(rep.Announced), rep.Warnings, 1000-max, max)
	}
	if fetched := len(rep.Imported) + len(rep.Rejected); fetched > max {
		t.Errorf("%d data nodes fetched, beyond the cap of %d", fetched, max)
	}
	if got := append(fprs(rep.Imported), rep.Unchanged...); !contains(got, bobFpr) {
		t.Errorf("bob's real key, known before and listed last, was not taken: %v", got)
	}
	capped := 0
	for _, k := range drain() {
		if k.What == "capped" {
			capped++
			if !strings.Contains(k.Reason, "ignored 968") {
				t.Errorf("capped event says %q", k.Reason)
			}
		}
	}
	if capped != 1 {
		t.Errorf("%d capped events, want one", capped)
	}

	// bob's own device publishes again over the poisoned list: it keeps
	// its key, and writes back no more than the cap.
	prep, err := bob.Publish(ctx, bob.key.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if len(prep.Announced) > max || !contains(prep.Announced, bobFpr) || len(prep.Dropped) != 1000-max || len(prep.Warnings) != 1 {
		t.Fatalf("publish over a poisoned list: announced %d (has own key: %v), dropped %d, warnings %q", len(prep.Announced), contains(prep.Announced, bobFpr), len(prep.Dropped), prep.Warnings)
	}

	// Now only bob's key, newly dated, but its data node holds garbage.
	if _, err := pep.Publish(ctx, bob.Session, element.DataNode(bobFpr), "", element.PubKey{Data: []byte("not a key")}.Marshal(), pep.Options{"pubsub#access_model": "open"}); err != nil {
		t.Fatal(err)
	}
	publishList(ctx, t, bob, element.PublicKeysList{Keys: []element.PubKeyMetadata{{Fingerprint: bobFpr, Date: date.Add(time.Hour)}}})
	rep, err = alice.Fetch(ctx, bob.jid)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Kept) != 1 || rep.Kept[0].Fingerprint != bobFpr || !strings.Contains(rep.Kept[0].Reason, "keeps using the copy it has") {
		t.Fatalf("kept %+v, want bob's key kept", rep.Kept)
	}
	kept := false
	for _, k := range drain() {
		kept = kept || (k.What == "kept" && k.Fingerprint == bobFpr)
	}
	if !kept {
		t.Error("no warning event for the kept key")
	}
	if _, err := bob.Send(ctx, alice.jid, "still me"); err != nil {
		t.Fatal(err)
	}
	m := in.next(t, "bob -> alice with a garbage data node")
	if m.Err != nil || m.Body != "still me" {
		t.Fatalf("alice got %q, %v", m.Body, m.Err)
	}
	if st, err := alice.TrustState(ctx, bob.jid, bob.key.Fingerprint); err != nil || st != trust.Verified {
		t.Errorf("decision after the garbage: %s (%v), want verified", st, err)
	}
}

// publishList writes l to d's metadata node as a raw client would.
func publishList(ctx context.Context, t *testing.T, d *device, l element.PublicKeysList) {
	t.Helper()
	if _, err := pep.Publish(ctx, d.Session, element.NodePublicKeys, "", l.Marshal(), pep.Options{"pubsub#access_model": "open"}); err != nil {
		t.Fatal(err)
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func fprs(ks []pgp.KeyInfo) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.Fingerprint.String()
	}
	return out
}

// A key the contact already holds, revoked and published again by its
// owner, is a "revoked" key event with the reason and the owner's words
// (issue 16: receivers act on it), and is no longer encrypted to.
func TestIntegrationRevocationEvent(t *testing.T) {
	onEachServer(t, testIntegrationRevocationEvent, "alice", "bob")
}

func testIntegrationRevocationEvent(t *testing.T, srv *testenv.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	alice, _ := listening(ctx, t, srv, "alice")
	events := make(chan ox.KeyChange, 64)
	bob := newDeviceWith(ctx, t, srv, "bob", true, func(c *ox.Client) {
		c.OnKeyChange = func(k ox.KeyChange) { events <- k }
	})
	if _, err := bob.Fetch(ctx, alice.jid); err != nil {
		t.Fatal(err)
	}
	lc, ok := alice.Backend.(pgp.KeyLifecycle)
	if !ok {
		t.Fatal("the embedded backend has no key lifecycle")
	}
	if _, err := lc.Revoke(ctx, alice.key.Fingerprint, pgp.RevokeOptions{Reason: pgp.RevocationCompromised, Text: "laptop stolen"}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.PublishRevoked(ctx, alice.key.Fingerprint); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Fetch(ctx, alice.jid); err != nil {
		t.Fatal(err)
	}
	var got []ox.KeyChange
	for len(events) > 0 {
		got = append(got, <-events)
	}
	found := false
	for _, k := range got {
		if k.What == "revoked" && k.Fingerprint == alice.key.Fingerprint.String() {
			found = true
			if !strings.Contains(k.Reason, "compromised") || !strings.Contains(k.Reason, "laptop stolen") {
				t.Errorf("revoked event says %q, want the reason and the owner's words", k.Reason)
			}
		}
	}
	if !found {
		t.Fatalf("no revoked event; events: %+v", got)
	}
	if _, err := bob.Send(ctx, alice.jid, "to a revoked key?"); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("send to a contact whose only key is revoked: %v, want a refusal naming the revocation", err)
	}
}
