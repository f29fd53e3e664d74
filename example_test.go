package ox_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log"
	"os"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/pgp/native"
	"codeberg.org/ox/ox/store"
	"codeberg.org/ox/ox/trust"
)

// A bot that publishes its key, sends one message and prints what comes in.
func Example() {
	ctx := context.Background()
	me := jid.MustParse("bot@example.org")

	// One store per account: keys, contacts' announced keys, delivered ids.
	st, err := store.Open(ctx, "bot/ox.db")
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	backend := native.New(st)

	session, err := ox.Dial(ctx, ox.Account{JID: me, Password: os.Getenv("BOT_PASSWORD"), TLS: &tls.Config{}})
	if err != nil {
		log.Fatal(err)
	}
	defer ox.CloseSession(session)

	c := ox.NewClient(session, backend, st)
	c.OnMessage = func(m *ox.Message) {
		if m.Err != nil {
			fmt.Printf("rejected message from %s: %v\n", m.From, m.Err)
			return
		}
		fmt.Printf("%s (key %s): %s\n", m.From.Bare(), m.Signer, m.Body)
	}
	go c.Serve(nil) // answers disco, follows key changes, reads messages

	keys, _ := backend.SecretKeys(ctx)
	if len(keys) == 0 {
		k, err := backend.Generate(ctx, me, pgp.GenerateOptions{Expiry: pgp.DefaultExpiry})
		if err != nil {
			log.Fatal(err)
		}
		keys = append(keys, k)
	}
	if _, err := c.Publish(ctx, keys[0].Fingerprint); err != nil {
		log.Fatal(err)
	}
	if err := c.Online(ctx); err != nil {
		log.Fatal(err)
	}
	if _, err := c.Send(ctx, jid.MustParse("alice@example.org"), "the bot is up"); err != nil {
		log.Fatal(err) // a *ox.NoUsableKeyError says why no key of alice could be used
	}
	select {}
}

// Backing up the secret key to the account's private PEP node, and
// restoring it on another device.
func ExampleClient_BackupPush() {
	ctx := context.Background()
	var c *ox.Client // logged in, as in the package example
	keys, _ := c.Backend.SecretKeys(ctx)
	code, err := c.BackupPush(ctx, keys[0].Fingerprint, false)
	if err != nil {
		log.Fatal(err) // ox.ErrBackupExists: another device's backup is there
	}
	fmt.Println("write this down:", code)

	var laptop *ox.Client // another device of the same account, with an empty store
	restored, err := laptop.BackupRestore(ctx, code)
	if err != nil {
		log.Fatal(err) // backup.ErrWrongCode, ox.ErrNoBackup: nothing was stored
	}
	fmt.Println("restored", restored[0].Fingerprint)
}

// Fetching a contact's keys and following their changes.
func ExampleClient_Fetch() {
	ctx := context.Background()
	var c *ox.Client // logged in, as in the package example
	rep, err := c.Fetch(ctx, jid.MustParse("alice@example.org"))
	if err != nil {
		log.Fatal(err) // ox.ErrNoKeysPublished when alice has none
	}
	for _, k := range rep.Imported {
		fmt.Println("new key", k.Fingerprint, k.UserIDs)
	}
	for _, p := range rep.Rejected {
		fmt.Println("not taken:", p.Fingerprint, p.Reason)
	}
}

// Trust: what the user decided about a contact's keys, and the policy that
// decides for keys not seen before.
func ExampleClient_SetTrust() {
	ctx := context.Background()
	var c *ox.Client // as in the package example
	bob := jid.MustParse("bob@example.org")

	// bob read his fingerprint out (ox trust show prints it in groups of
	// four and as an OPENPGP4FPR QR code); it matches:
	fpr, err := pgp.ParseFingerprint("3EC1 0129 40BF 2505 DE66  1858 CE26 F77F 77D5 678B")
	if err != nil {
		log.Fatal(err)
	}
	if err := c.SetTrust(ctx, bob, fpr, trust.Verified, "compared in person"); err != nil {
		log.Fatal(err)
	}
	// From now on a new key of bob's waits (undecided) until verified:
	// that is the default policy, blind trust before verification.
	p, _ := c.Policy(ctx, bob)
	fmt.Println(p)

	// Know what changes.
	c.OnKeyChange = func(k ox.KeyChange) {
		fmt.Printf("%s: %s key %s (trust %s)\n", k.JID, k.What, k.Fingerprint, k.Trust)
	}
}
