// Command oxdemo runs a whole OX exchange on this machine and prints what
// happens: it starts a throw-away Prosody on loopback (Debian's prosody
// package, as the tests do), registers alice and bob, gives each a key in
// its own store, publishes the keys over PEP, and sends a <signcrypt/>
// message each way, which the other side fetches the sender's key for,
// decrypts and checks as XEP-0373 §3.2 demands. Everything it starts, it
// stops; everything it writes is in a temporary directory it removes.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/internal/prosody"
	"codeberg.org/ox/ox/pgp"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "oxdemo: error:", err)
		os.Exit(1)
	}
}

type person struct {
	name   string
	client *ox.Client
	key    pgp.KeyInfo
	inbox  chan *ox.Message
	served chan error
}

func run() error {
	if err := prosody.Available(); err != nil {
		return fmt.Errorf("%v: install it with '%s' (./demo.sh does)", err, prosody.InstallHint)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "oxdemo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	start := time.Now()
	srv, err := prosody.Start(ctx, filepath.Join(dir, "prosody"), prosody.Options{
		Accounts: map[string]string{"alice": "alice-pass", "bob": "bob-pass"},
	})
	if err != nil {
		return err
	}
	defer srv.Stop()
	fmt.Printf("server       Prosody on %s (STARTTLS, throw-away CA), accounts alice and bob, up in %v\n", srv.Addr, time.Since(start).Round(time.Millisecond))

	alice, err := login(ctx, srv, dir, "alice")
	if err != nil {
		return err
	}
	defer alice.close()
	bob, err := login(ctx, srv, dir, "bob")
	if err != nil {
		return err
	}
	defer bob.close()

	if err := exchange(ctx, alice, bob, "Hi Bob! This is OX: signed, encrypted to you and to me, checked."); err != nil {
		return err
	}
	if err := exchange(ctx, bob, alice, "Hi Alice, read you loud and clear <&> ünïcödé."); err != nil {
		return err
	}
	fmt.Println("done         both messages decrypted, signatures verified, every receiver check passed")
	return nil
}

func login(ctx context.Context, srv *prosody.Server, dir, name string) (*person, error) {
	// The account's keys and state, in its own directory (embedded backend).
	c, err := ox.OpenLocal(ctx, ox.LocalOptions{JID: jid.MustParse(srv.JID(name)), Dir: filepath.Join(dir, name), Create: true})
	if err != nil {
		return nil, err
	}
	s, err := srv.Dial(ctx, name, name+"-pass", "oxdemo")
	if err != nil {
		c.Close()
		return nil, err
	}
	c.Session = s
	p := &person{name: name, inbox: make(chan *ox.Message, 4), served: make(chan error, 1)}
	p.client = c
	p.client.OnMessage = func(m *ox.Message) { p.inbox <- m }
	go func() { p.served <- p.client.Serve(nil) }()
	me := p.client.JID()
	t := time.Now()
	if p.key, err = p.client.Backend.Generate(ctx, me, pgp.GenerateOptions{Expiry: pgp.DefaultExpiry}); err != nil {
		return nil, err
	}
	fmt.Printf("%-12s generated %s (%s + %s), user ID %s, in %v\n", name, p.key.Fingerprint.Grouped(), p.key.Algorithm, p.key.Subkeys[0].Algorithm, p.key.UserIDs[0], time.Since(t).Round(time.Microsecond))
	t = time.Now()
	rep, err := p.client.Publish(ctx, p.key.Fingerprint)
	if err != nil {
		return nil, err
	}
	fmt.Printf("%-12s published it over PEP (data node, then metadata node; access model %s) in %v\n", name, rep.AccessModel, time.Since(t).Round(time.Millisecond))
	if err := p.client.Online(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *person) close() {
	ox.CloseSession(p.client.Session)
	<-p.served
	p.client.Close()
}

func exchange(ctx context.Context, from, to *person, text string) error {
	t := time.Now()
	rep, err := from.client.Send(ctx, to.client.JID(), text)
	if err != nil {
		return err
	}
	fmt.Printf("%-12s -> %s: sent, encrypted to %d key(s) of %s and %d of its own, confirmed by the server in %v\n",
		from.name, to.name, len(rep.Recipients), to.name, len(rep.Self), time.Since(t).Round(time.Millisecond))
	select {
	case m := <-to.inbox:
		if m.Err != nil {
			return fmt.Errorf("%s rejected the message: %w", to.name, m.Err)
		}
		if !m.From.Bare().Equal(from.client.JID()) || m.Signer != from.key.Fingerprint {
			return fmt.Errorf("%s got a message from %s signed by %s", to.name, m.From, m.Signer)
		}
		if m.Body != text {
			return fmt.Errorf("%s read %q, but %s sent %q", to.name, m.Body, from.name, text)
		}
		fmt.Printf("%-12s <- %s: %q\n%-12s    signed by %s at %s, after %v\n", to.name, from.name, m.Body, "", m.Signer.Grouped(), m.Time.Format(time.RFC3339), time.Since(t).Round(time.Millisecond))
		return nil
	case <-ctx.Done():
		return errors.New("the message did not arrive")
	case <-time.After(30 * time.Second):
		return fmt.Errorf("%s's message did not reach %s within 30 s", from.name, to.name)
	}
}
