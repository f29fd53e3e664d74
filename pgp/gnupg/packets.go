package gnupg

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"codeberg.org/ox/ox/pgp"
)

// ox looks at the packet framing (RFC 4880 §4.2) of what it hands to gpg,
// never at key material: to refuse what OX does not use before gpg acts on
// it (keys that are not v4; messages encrypted to a passphrase, for which
// gpg-agent would pop up a prompt).

// OpenPGP packet tags ox looks for.
const (
	tagPKESK     = 1
	tagSKESK     = 3
	tagSecretKey = 5
	tagPublicKey = 6
	tagSecretSub = 7
	tagPublicSub = 14
)

type packetHeader struct {
	tag     int
	body    []byte // the body, or its first bytes when partial
	partial bool
}

// nextPacket reads one packet header and body from data; rest is what
// follows. A packet with partial body lengths is returned with its first
// chunk only and rest nil: ox never needs to look past one.
func nextPacket(data []byte) (p packetHeader, rest []byte, err error) {
	if len(data) == 0 {
		return p, nil, io.EOF
	}
	h := data[0]
	if h&0x80 == 0 {
		return p, nil, errors.New("not an OpenPGP packet")
	}
	data = data[1:]
	var n int
	if h&0x40 != 0 { // new format
		p.tag = int(h & 0x3f)
		if len(data) == 0 {
			return p, nil, io.ErrUnexpectedEOF
		}
		switch l := data[0]; {
		case l < 192:
			n, data = int(l), data[1:]
		case l < 224:
			if len(data) < 2 {
				return p, nil, io.ErrUnexpectedEOF
			}
			n, data = (int(l)-192)<<8+int(data[1])+192, data[2:]
		case l == 255:
			if len(data) < 5 {
				return p, nil, io.ErrUnexpectedEOF
			}
			n, data = int(data[1])<<24|int(data[2])<<16|int(data[3])<<8|int(data[4]), data[5:]
		default:
			n, data, p.partial = 1<<(l&0x1f), data[1:], true
		}
	} else { // old format
		p.tag = int(h>>2) & 0xf
		switch h & 3 {
		case 0:
			if len(data) < 1 {
				return p, nil, io.ErrUnexpectedEOF
			}
			n, data = int(data[0]), data[1:]
		case 1:
			if len(data) < 2 {
				return p, nil, io.ErrUnexpectedEOF
			}
			n, data = int(data[0])<<8|int(data[1]), data[2:]
		case 2:
			if len(data) < 4 {
				return p, nil, io.ErrUnexpectedEOF
			}
			n, data = int(data[0])<<24|int(data[1])<<16|int(data[2])<<8|int(data[3]), data[4:]
		default:
			n, p.partial = len(data), true
		}
	}
	if n < 0 || n > len(data) {
		if p.partial {
			n = len(data)
		} else {
			return p, nil, io.ErrUnexpectedEOF
		}
	}
	p.body = data[:n]
	if p.partial {
		return p, nil, nil
	}
	return p, data[n:], nil
}

// passphraseEncrypted tells whether a message starts with a session key
// encrypted to a passphrase (SKESK): OX never makes those, and gpg would
// have gpg-agent ask the user for that passphrase.
func passphraseEncrypted(msg []byte) bool {
	for rest := msg; ; {
		p, r, err := nextPacket(rest)
		if err != nil {
			return false
		}
		switch p.tag {
		case tagSKESK:
			return true
		case tagPKESK:
			rest = r
		default:
			return false
		}
	}
}

// keyBlocks returns the binary key data in data (binary, or one or more
// ASCII-armored key blocks), refusing what is not a v4 key.
func keyBlocks(data []byte) ([]byte, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: no key data", pgp.ErrMalformed)
	}
	if !bytes.HasPrefix(trimmed, []byte("-----BEGIN PGP")) {
		if err := checkKeyPackets(data); err != nil {
			return nil, err
		}
		return data, nil
	}
	var out []byte
	r := bytes.NewReader(trimmed)
	for {
		block, err := armor.Decode(r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if len(out) > 0 {
				break // trailing text after the last block
			}
			return nil, fmt.Errorf("%w: bad ASCII armor: %v", pgp.ErrMalformed, err)
		}
		if block.Type != "PGP PUBLIC KEY BLOCK" && block.Type != "PGP PRIVATE KEY BLOCK" {
			return nil, fmt.Errorf("%w: armor holds a %q, not a key", pgp.ErrMalformed, block.Type)
		}
		bin, err := io.ReadAll(io.LimitReader(block.Body, 64<<20))
		if err != nil {
			return nil, fmt.Errorf("%w: bad ASCII armor: %v", pgp.ErrMalformed, err)
		}
		if err := checkKeyPackets(bin); err != nil {
			return nil, err
		}
		out = append(out, bin...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no key in the armored data", pgp.ErrMalformed)
	}
	return out, nil
}

// checkKeyPackets walks binary key data: it must start with a key packet,
// and every key packet must be a v4 one (XEP-0373 §6.1).
func checkKeyPackets(data []byte) error {
	first := true
	for rest := data; len(rest) > 0; {
		p, r, err := nextPacket(rest)
		if err != nil {
			return fmt.Errorf("%w: %v", pgp.ErrMalformed, err)
		}
		if p.partial {
			return fmt.Errorf("%w: a key packet of indeterminate length", pgp.ErrMalformed)
		}
		switch p.tag {
		case tagPublicKey, tagSecretKey, tagPublicSub, tagSecretSub:
			if first && p.tag != tagPublicKey && p.tag != tagSecretKey {
				return fmt.Errorf("%w: key data starts with a subkey", pgp.ErrMalformed)
			}
			if len(p.body) == 0 {
				return fmt.Errorf("%w: empty key packet", pgp.ErrMalformed)
			}
			if v := p.body[0]; v != 4 {
				return fmt.Errorf("%w: a v%d key; XEP-0373 §6.1 allows only v4", pgp.ErrUnsupportedKey, v)
			}
		default:
			if first {
				return fmt.Errorf("%w: not a key (it starts with a packet of type %d)", pgp.ErrMalformed, p.tag)
			}
		}
		first = false
		rest = r
	}
	if first {
		return fmt.Errorf("%w: no key data", pgp.ErrMalformed)
	}
	return nil
}
