// Command oxdemo runs a whole OX exchange on this machine and prints what
// happens: two accounts, each with its own store, make keys, swap their
// public keys, and send each other a <signcrypt/> message that the other
// decrypts and checks as XEP-0373 §3.2 demands.
//
// In this version the exchange is offline (keys and messages are handed
// over in memory, as `ox key export`, `ox cert import`, `ox encrypt` and
// `ox decrypt` do); the network exchange over a throw-away local Prosody
// replaces it once messaging lands.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/check"
	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/pgp/native"
	"codeberg.org/ox/ox/store"
)

type account struct {
	jid     jid.JID
	store   *store.Store
	backend *native.Backend
	key     pgp.KeyInfo
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "oxdemo: error:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "oxdemo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	alice, err := newAccount(ctx, dir, "alice@example.org")
	if err != nil {
		return err
	}
	defer alice.store.Close()
	bob, err := newAccount(ctx, dir, "bob@example.org")
	if err != nil {
		return err
	}
	defer bob.store.Close()

	for _, p := range [][2]*account{{alice, bob}, {bob, alice}} {
		if err := hand(ctx, p[0], p[1]); err != nil {
			return err
		}
	}
	if err := exchange(ctx, alice, bob, "Hi Bob! This is OX: signed, encrypted, checked."); err != nil {
		return err
	}
	if err := exchange(ctx, bob, alice, "Hi Alice, read you loud and clear <&> ünïcödé."); err != nil {
		return err
	}
	fmt.Println("done: both messages decrypted, signatures verified, every receiver check passed")
	return nil
}

func newAccount(ctx context.Context, dir, addr string) (*account, error) {
	j, err := jid.Parse(addr)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, filepath.Join(dir, addr, "ox.db"))
	if err != nil {
		return nil, err
	}
	b := native.New(st)
	start := time.Now()
	k, err := b.Generate(ctx, j, pgp.GenerateOptions{Expiry: pgp.DefaultExpiry})
	if err != nil {
		st.Close()
		return nil, err
	}
	fmt.Printf("%-18s generated %s (%s), user ID %s, in %v\n", addr, k.Fingerprint.Grouped(), k.Algorithm, k.UserIDs[0], time.Since(start).Round(time.Microsecond))
	return &account{jid: j, store: st, backend: b, key: k}, nil
}

// hand gives from's minimal public key to to, as a PEP fetch or a file would.
func hand(ctx context.Context, from, to *account) error {
	pub, err := from.backend.ExportPublic(ctx, from.key.Fingerprint, &from.jid)
	if err != nil {
		return err
	}
	if _, err := to.backend.Import(ctx, pub); err != nil {
		return err
	}
	fmt.Printf("%-18s imported %s's public key (%d bytes)\n", to.jid, from.jid, len(pub))
	return nil
}

func exchange(ctx context.Context, from, to *account, text string) error {
	start := time.Now()
	c, err := element.NewContent(element.KindSigncrypt, []jid.JID{to.jid}, time.Now(), element.BodyPayload(text))
	if err != nil {
		return err
	}
	plain, err := c.Marshal()
	if err != nil {
		return err
	}
	keys, err := from.backend.Lookup(ctx, to.jid)
	if err != nil || len(keys) == 0 {
		return fmt.Errorf("no key for %s: %v", to.jid, err)
	}
	ct, err := from.backend.Seal(ctx, plain, pgp.SealOptions{
		Signer:     from.key.Fingerprint,
		Recipients: []pgp.Fingerprint{keys[0].Fingerprint, from.key.Fingerprint},
	})
	if err != nil {
		return err
	}
	wire := element.MarshalOpenPGP(ct)
	sent := time.Since(start)
	fmt.Printf("%-18s -> %s: %d-byte <openpgp/> element, made in %v\n", from.jid, to.jid, len(wire), sent.Round(time.Microsecond))

	start = time.Now()
	raw, err := element.ParseOpenPGP(wire)
	if err != nil {
		return err
	}
	o, err := to.backend.Open(ctx, raw)
	if err != nil {
		return err
	}
	v, err := check.Message(check.Input{Opened: o, Sender: from.jid, Recipient: to.jid, Delivered: time.Now()}, check.Options{})
	if err != nil {
		return err
	}
	body, _ := v.Content.Body()
	fmt.Printf("%-18s <- %s: %q\n%-18s    signed by %s at %s; read and checked in %v\n",
		to.jid, from.jid, body, "", v.Signer.Fingerprint.Grouped(), v.SignatureTime.Format(time.RFC3339), time.Since(start).Round(time.Microsecond))
	return nil
}
