package wkd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/pgp"
)

// Refused is a key Import did not take, and its user IDs.
type Refused struct {
	Fingerprint pgp.Fingerprint
	UserIDs     []string
}

// UserIDError: keys the directory returned do not carry the user ID
// "xmpp:<JID>", so they were not imported for that JID: a Web Key
// Directory vouches for a mail address, not for an XMPP address. (GnuPG's
// gpg-wks-client --install-key publishes only the mail address's user ID,
// so a key it installed never carries one.)
type UserIDError struct {
	JID  jid.JID
	Keys []Refused
}

func (e *UserIDError) Error() string {
	parts := make([]string, len(e.Keys))
	for i, k := range e.Keys {
		ids := "no user ID"
		if len(k.UserIDs) > 0 {
			ids = "only " + strings.Join(k.UserIDs, ", ")
		}
		parts[i] = k.Fingerprint.String() + " has " + ids
	}
	return fmt.Sprintf("wkd: not imported for %s, lacking the user ID %s: %s", e.JID, pgp.UserID(e.JID), strings.Join(parts, "; "))
}

// Import stores the keys of a WKD answer that carry the user ID
// "xmpp:<bare j>", each as it came (its other user IDs too), and returns
// them. The keys without it are not stored; they come back in a
// *UserIDError, beside the keys that were imported, if any.
func Import(ctx context.Context, b pgp.Backend, data []byte, j jid.JID) ([]pgp.KeyInfo, error) {
	blocks, err := splitKeys(data)
	if err != nil {
		return nil, err
	}
	var (
		out     []pgp.KeyInfo
		refused []Refused
	)
	for _, block := range blocks {
		ks, err := b.Inspect(ctx, block)
		if err != nil {
			return out, err
		}
		if len(ks) != 1 {
			return out, fmt.Errorf("%w: a key block describes %d keys", pgp.ErrMalformed, len(ks))
		}
		if ks[0].Secret {
			return out, fmt.Errorf("%w: the directory sent the secret key %s; nothing was imported from it", pgp.ErrMalformed, ks[0].Fingerprint)
		}
		if !ks[0].HasUserID(j) {
			refused = append(refused, Refused{Fingerprint: ks[0].Fingerprint, UserIDs: ks[0].UserIDs})
			continue
		}
		got, err := b.Import(ctx, block)
		if err != nil {
			return out, err
		}
		out = append(out, got...)
	}
	if len(refused) > 0 {
		return out, &UserIDError{JID: j.Bare(), Keys: refused}
	}
	return out, nil
}

// splitKeys cuts binary or armored key data into one binary block per
// key (a primary key packet and what follows it), so that each is judged
// and stored on its own. It reads the packet framing only.
func splitKeys(data []byte) ([][]byte, error) {
	var r io.Reader = bytes.NewReader(data)
	if t := bytes.TrimSpace(data); bytes.HasPrefix(t, []byte("-----BEGIN PGP")) {
		block, err := armor.Decode(bytes.NewReader(t))
		if err != nil {
			return nil, fmt.Errorf("%w: bad ASCII armor: %v", pgp.ErrMalformed, err)
		}
		r = block.Body
	}
	or := packet.NewOpaqueReader(r)
	var (
		out [][]byte
		cur *bytes.Buffer
	)
	for {
		p, err := or.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", pgp.ErrMalformed, err)
		}
		const tagSecretKey, tagPublicKey = 5, 6
		if p.Tag == tagPublicKey || p.Tag == tagSecretKey {
			cur = new(bytes.Buffer)
			out = append(out, nil)
		}
		if cur == nil {
			return nil, fmt.Errorf("%w: the answer does not start with a key", pgp.ErrMalformed)
		}
		if err := p.Serialize(cur); err != nil {
			return nil, fmt.Errorf("%w: %v", pgp.ErrMalformed, err)
		}
		out[len(out)-1] = cur.Bytes()
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no key in the answer", pgp.ErrMalformed)
	}
	return out, nil
}
