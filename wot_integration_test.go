package ox_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/internal/prosody"
	"codeberg.org/ox/ox/internal/testenv"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/pgp/gnupg"
	"codeberg.org/ox/ox/store"
	"codeberg.org/ox/ox/trust"
	"codeberg.org/ox/ox/wot"
)

// The web of trust over XMPP, as issue 7 checks it: a certification sent
// by alice reaches bob and, once merged and published, is visible on bob's
// key. Forged offers are refused with the reason.
func TestIntegrationWebOfTrust(t *testing.T) {
	onEachServer(t, testIntegrationWebOfTrust, "alice", "bob", "carol", "mallory")
}

func testIntegrationWebOfTrust(t *testing.T, srv *testenv.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*testTimeout)
	defer cancel()
	alice, _ := listening(ctx, t, srv, "alice")
	bob, bobIn := listening(ctx, t, srv, "bob")
	bobUID := "xmpp:" + bob.jid.String()

	// alice fetches bob's key, compares its fingerprint (here: the test
	// knows it), certifies it and sends the certification.
	rep, err := alice.WoT.Certify(ctx, bob.jid, bob.key.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Signer != alice.key.Fingerprint || rep.Target != bob.key.Fingerprint || rep.UserID != bobUID || rep.Sent == nil || !slices.Contains(rep.Sent.Recipients, bob.key.Fingerprint) {
		t.Fatalf("certify report %+v (sent %+v)", rep, rep.Sent)
	}
	if st, err := alice.TrustState(ctx, bob.jid, bob.key.Fingerprint); err != nil || st != trust.Verified {
		t.Errorf("alice's trust in bob's key: %v %v, want verified", st, err)
	}
	if r, err := alice.Store.Trust(ctx, bob.jid.String(), bob.key.Fingerprint.String()); err != nil || r.Reason != wot.ReasonCertified {
		t.Errorf("trust record %+v %v", r, err)
	}
	if k, err := alice.Backend.Key(ctx, bob.key.Fingerprint); err != nil {
		t.Fatal(err)
	} else if _, ok := k.CertifiedBy(alice.key.Fingerprint, bobUID); !ok {
		t.Errorf("alice's keyring does not know she certified bob: %+v", k.Certifications)
	}

	// bob gets the offer.
	m := bobIn.next(t, "alice's certification")
	if m.Err != nil || m.Certification == nil {
		t.Fatalf("bob got %+v (err %v)", m, m.Err)
	}
	o := m.Certification
	if o.Err != nil || o.ID == 0 || o.Certifier != alice.key.Fingerprint || o.Target != bob.key.Fingerprint ||
		!slices.Equal(o.UserIDs, []string{bobUID}) || o.State != ox.CertificationPending || !o.From.Equal(alice.jid) {
		t.Fatalf("offer %+v (err %v)", o, o.Err)
	}
	if !strings.Contains(m.Body, "certified your key") {
		t.Errorf("the body for other clients: %q", m.Body)
	}
	offers, err := bob.WoT.Certifications(ctx)
	if err != nil || len(offers) != 1 || offers[0].ID != o.ID || offers[0].State != ox.CertificationPending {
		t.Fatalf("bob's offers: %+v %v", offers, err)
	}
	// Not merged before bob says so.
	if k, _ := bob.Backend.Key(ctx, bob.key.Fingerprint); len(k.Certifications) != 0 {
		t.Errorf("merged before it was accepted: %+v", k.Certifications)
	}

	// bob accepts it and publishes his key with it.
	if _, err := bob.WoT.AcceptCertification(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	k, err := bob.Backend.Key(ctx, bob.key.Fingerprint)
	if err != nil || !k.Secret {
		t.Fatalf("bob's key: %+v %v", k, err)
	}
	if _, ok := k.CertifiedBy(alice.key.Fingerprint, bobUID); !ok {
		t.Fatalf("bob's key after accepting: %+v", k.Certifications)
	}
	bob.WoT.PublishCertifications()
	prep, err := bob.Publish(ctx, bob.key.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(prep.Certifiers, []pgp.Fingerprint{alice.key.Fingerprint}) {
		t.Errorf("published with certifications by %v", prep.Certifiers)
	}

	// carol fetches bob's key: alice's certification is on it, unverified
	// until carol has alice's key, then verified.
	carol := newDevice(ctx, t, srv, "carol", true, nil)
	fr, err := carol.Fetch(ctx, bob.jid)
	if err != nil || len(fr.Imported) != 1 {
		t.Fatalf("carol fetches bob: %+v %v", fr, err)
	}
	if cs := fr.Imported[0].Certifications; len(cs) != 1 || cs[0].Verified || cs[0].IssuerKeyID != alice.key.Fingerprint.KeyID() {
		t.Errorf("bob's key as carol fetched it: %+v", cs)
	}
	if _, err := carol.Fetch(ctx, alice.jid); err != nil {
		t.Fatal(err)
	}
	k, err = carol.Backend.Key(ctx, bob.key.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := k.CertifiedBy(alice.key.Fingerprint, bobUID); !ok || c.Created.IsZero() {
		t.Fatalf("carol does not see alice's certification on bob's key: %+v", k.Certifications)
	}

	t.Run("declined", func(t *testing.T) {
		// carol certifies bob too; bob declines: it is not published.
		if _, err := carol.Publish(ctx, carol.key.Fingerprint); err != nil {
			t.Fatal(err)
		}
		if _, err := carol.WoT.Certify(ctx, bob.jid, bob.key.Fingerprint); err != nil {
			t.Fatal(err)
		}
		m := bobIn.next(t, "carol's certification")
		if m.Certification == nil || m.Certification.Err != nil || m.Certification.Certifier != carol.key.Fingerprint {
			t.Fatalf("bob got %+v", m.Certification)
		}
		if err := bob.WoT.DeclineCertification(ctx, m.Certification.ID); err != nil {
			t.Fatal(err)
		}
		prep, err := bob.Publish(ctx, bob.key.Fingerprint)
		if err != nil || !slices.Equal(prep.Certifiers, []pgp.Fingerprint{alice.key.Fingerprint}) {
			t.Errorf("after declining carol's: published with %v %v", prep.Certifiers, err)
		}
		if k, _ := bob.Backend.Key(ctx, bob.key.Fingerprint); len(k.Certifications) != 1 {
			t.Errorf("a declined certification was merged: %+v", k.Certifications)
		}
	})

	t.Run("forged", func(t *testing.T) {
		mallory := newDevice(ctx, t, srv, "mallory", true, nil)
		if _, err := mallory.Publish(ctx, mallory.key.Fingerprint); err != nil {
			t.Fatal(err)
		}
		// bob's published key carries alice's certification: mallory
		// takes it and claims it is alice's, in her own message.
		if _, err := mallory.Fetch(ctx, bob.jid); err != nil {
			t.Fatal(err)
		}
		withAlice, err := mallory.Backend.ExportPublic(ctx, bob.key.Fingerprint, nil)
		if err != nil {
			t.Fatal(err)
		}
		send := func(from *device, c element.Certification) {
			t.Helper()
			el, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := from.SendPayload(ctx, bob.jid, append(element.BodyPayload("a certification for you"), el...)); err != nil {
				t.Fatal(err)
			}
		}
		refused := func(what, reason string) {
			t.Helper()
			m := bobIn.next(t, what)
			if m.Err != nil || m.Certification == nil {
				t.Fatalf("%s: %+v (err %v)", what, m, m.Err)
			}
			var ce *wot.CertificationError
			if !errors.As(m.Certification.Err, &ce) || !strings.Contains(ce.Error(), reason) || m.Certification.ID != 0 {
				t.Fatalf("%s: offer %+v, error %v; want refused: %q", what, m.Certification, m.Certification.Err, reason)
			}
		}
		send(mallory, element.Certification{Fingerprint: bob.key.Fingerprint.String(), By: alice.key.Fingerprint.String(), Data: withAlice})
		refused("a certification not by the message's signer", "claims to be by key "+alice.key.Fingerprint.String()+", but the message is signed by key "+mallory.key.Fingerprint.String())
		send(mallory, element.Certification{Fingerprint: bob.key.Fingerprint.String(), By: mallory.key.Fingerprint.String(), Data: withAlice})
		refused("a certification the key data does not carry", "carries no valid certification of your key "+bob.key.Fingerprint.String()+" by key "+mallory.key.Fingerprint.String())
		// alice's genuine certification of carol's key, sent to bob.
		if _, err := alice.Fetch(ctx, carol.jid); err != nil {
			t.Fatal(err)
		}
		ofCarol, err := alice.Backend.Certify(ctx, alice.key.Fingerprint, carol.key.Fingerprint, "xmpp:"+carol.jid.String())
		if err != nil {
			t.Fatal(err)
		}
		send(alice, element.Certification{Fingerprint: carol.key.Fingerprint.String(), By: alice.key.Fingerprint.String(), Data: ofCarol})
		refused("a certification of a key that is not bob's", "certifies key "+carol.key.Fingerprint.String()+", which is not one of your keys")
		// Nothing of it was kept.
		offers, err := bob.WoT.Certifications(ctx)
		if err != nil || len(offers) != 2 {
			t.Errorf("bob keeps %+v %v", offers, err)
		}
	})
}

// A certification of one device's key reaches the account's other devices
// too: they show the message, and leave the offer to the device whose key
// it certifies.
func TestIntegrationWebOfTrustOtherDevice(t *testing.T) {
	onEachServer(t, testIntegrationWebOfTrustOtherDevice, "alice", "bob")
}

func testIntegrationWebOfTrustOtherDevice(t *testing.T, srv *testenv.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	alice, _ := listening(ctx, t, srv, "alice")
	laptop, laptopIn := listening(ctx, t, srv, "bob")
	phone, phoneIn := listening(ctx, t, srv, "bob")
	if _, err := alice.Fetch(ctx, laptop.jid); err != nil {
		t.Fatal(err)
	}
	rep, err := alice.WoT.Certify(ctx, laptop.jid, laptop.key.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(rep.Sent.Recipients, phone.key.Fingerprint) {
		t.Fatalf("not encrypted to the phone: %+v", rep.Sent)
	}
	m := laptopIn.next(t, "the laptop's certification")
	if m.Certification == nil || m.Certification.Err != nil || m.Certification.ID == 0 {
		t.Fatalf("laptop: %+v", m.Certification)
	}
	m = phoneIn.next(t, "the certification, on the phone")
	if m.Err != nil || m.Certification != nil || !strings.Contains(m.Body, "certified your key") {
		t.Fatalf("phone: %+v (err %v), offer %+v", m, m.Err, m.Certification)
	}
	if offers, err := phone.WoT.Certifications(ctx); err != nil || len(offers) != 0 {
		t.Errorf("the phone keeps %+v %v", offers, err)
	}
}

// wotGnuPGDevice logs local in with its keys in a fresh GnuPG home, makes
// and publishes a key through gpg, and goes online.
func wotGnuPGDevice(ctx context.Context, t *testing.T, srv *testenv.Server, local string) (*device, inbox) {
	t.Helper()
	home, err := os.MkdirTemp("", "oxwot") // short: gpg-agent's socket lives in it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", home, "--kill", "gpg-agent").Run()
		os.RemoveAll(home)
	})
	os.Chmod(home, 0o700)
	g, err := gnupg.New(gnupg.Options{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "ox.db"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := srv.Dial(ctx, local, local+"-pass", "")
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	in := make(inbox, 16)
	c := ox.NewClient(s, g, st)
	c.OnMessage = func(m *ox.Message) { in <- m }
	d := newFeatured(c)
	served := make(chan error, 1)
	go func() { served <- c.Serve(nil) }()
	d.close = func() {
		testenv.CloseSession(s)
		<-served
		c.Close()
		st.Close()
	}
	t.Cleanup(func() { d.Close(t) })
	if d.key, err = g.Generate(ctx, d.jid, pgp.GenerateOptions{Expiry: pgp.DefaultExpiry}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Publish(ctx, d.key.Fingerprint); err != nil {
		t.Fatal(err)
	}
	if err := d.Online(ctx); err != nil {
		t.Fatal(err)
	}
	return d, in
}

// With the GnuPG backend, certifying runs gpg, and the certified key's
// validity follows the user's trust model (pgp by default: fully valid);
// a GnuPG user accepts a certification into the keyring and publishes it,
// and the embedded backend reads it.
func TestIntegrationWebOfTrustGnuPG(t *testing.T) {
	onEachServer(t, testIntegrationWebOfTrustGnuPG, "alice", "bob", "carol")
}

func testIntegrationWebOfTrustGnuPG(t *testing.T, srv *testenv.Server) {
	if _, err := exec.LookPath("gpg"); err != nil {
		if prosody.Required() {
			t.Fatal("gpg is not installed (apt-get install gnupg)")
		}
		t.Skip("gpg is not installed (apt-get install gnupg): skipping")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*testTimeout)
	defer cancel()
	alice, _ := wotGnuPGDevice(ctx, t, srv, "alice")
	bob, bobIn := wotGnuPGDevice(ctx, t, srv, "bob")
	bobUID := "xmpp:" + bob.jid.String()

	rep, err := alice.WoT.Certify(ctx, bob.jid, bob.key.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Validity != pgp.ValidityFull || rep.Trust != trust.Verified {
		t.Errorf("after certifying: validity %q, trust %v; want full (the trust model pgp), verified", rep.Validity, rep.Trust)
	}
	if _, err := alice.Store.Trust(ctx, bob.jid.String(), bob.key.Fingerprint.String()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a decision was recorded in ox, beside GnuPG's trust model: %v", err)
	}
	m := bobIn.next(t, "alice's certification")
	if m.Err != nil || m.Certification == nil || m.Certification.Err != nil {
		t.Fatalf("bob got %+v (err %v), offer %+v", m, m.Err, m.Certification)
	}
	if _, err := bob.WoT.AcceptCertification(ctx, m.Certification.ID); err != nil {
		t.Fatal(err)
	}
	bob.WoT.PublishCertifications()
	if prep, err := bob.Publish(ctx, bob.key.Fingerprint); err != nil || !slices.Equal(prep.Certifiers, []pgp.Fingerprint{alice.key.Fingerprint}) {
		t.Fatalf("publish: %+v %v", prep, err)
	}
	carol := newDevice(ctx, t, srv, "carol", true, nil)
	if _, err := carol.Fetch(ctx, alice.jid); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.Fetch(ctx, bob.jid); err != nil {
		t.Fatal(err)
	}
	k, err := carol.Backend.Key(ctx, bob.key.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := k.CertifiedBy(alice.key.Fingerprint, bobUID); !ok || len(k.Certifications) != 1 {
		t.Fatalf("carol sees %+v on bob's key", k.Certifications)
	}
}
