package backup

import "fmt"

// checkS2KCost reads the packet headers of msg up to the encrypted data and
// rejects, with ErrTooLarge, an S2K in a passphrase (SKESK) packet that
// would take more memory or time than lim allows. That matters for Argon2,
// whose memory (up to 2 TiB) is allocated as soon as a passphrase is tried:
// go-crypto bounds it only by what RFC 9580 allows. The count of the
// iterated and salted S2K is at most 65011712 by construction, which
// defaultLimits allow; the fuzz test allows less. It returns the number of
// SKESK packets.
//
// The packet headers are read here rather than through go-crypto, which
// does not expose S2K parameters; anything that does not parse is left for
// go-crypto to reject.
func checkS2KCost(msg []byte, lim limits) (int, error) {
	n := 0
	for len(msg) > 0 {
		if tag, ok := packetTag(msg[0]); !ok || tag == 18 || tag == 20 {
			// Not OpenPGP, or the encrypted data (SEIPD, AEAD): the end of
			// the session key packets.
			return n, nil
		}
		tag, body, rest, ok := nextPacket(msg)
		if !ok {
			break
		}
		msg = rest
		switch tag {
		case 3:
			n++
			if err := checkSKESK(body, lim); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// checkSKESK checks the S2K specifier of a SKESK packet's body.
func checkSKESK(body []byte, lim limits) error {
	if len(body) == 0 {
		return nil
	}
	var off int
	switch body[0] {
	case 4: // version, cipher, S2K
		off = 2
	case 5: // version, cipher, AEAD, S2K
		off = 3
	case 6: // version, count, cipher, AEAD, count, S2K
		off = 5
	default:
		return nil
	}
	const iterated, argon2 = 3, 4
	s := body[min(off, len(body)):]
	switch {
	case len(s) >= 1+1+8+1 && s[0] == iterated:
		c := s[10]
		if count := (16 + int(c&15)) << (c>>4 + 6); count > lim.maxS2KCount {
			return fmt.Errorf("%w: the backup code's S2K asks for %d iterations", ErrTooLarge, count)
		}
	case len(s) >= 1+16+3 && s[0] == argon2:
		passes, memExp := int(s[17]), s[19]
		if memExp > lim.maxArgon2MemExp || memExp >= 32 || passes<<memExp > lim.maxArgon2Work {
			return fmt.Errorf("%w: the backup code's Argon2 S2K asks for %d passes over 2^%d KiB of memory", ErrTooLarge, passes, memExp)
		}
	}
	return nil
}

// packetTag returns the packet tag in h, the first octet of a packet
// header, legacy or OpenPGP format.
func packetTag(h byte) (tag byte, ok bool) {
	switch {
	case h&0x80 == 0:
		return 0, false
	case h&0x40 != 0:
		return h & 0x3f, true
	}
	return (h >> 2) & 0x0f, true
}

// nextPacket splits the first OpenPGP packet (RFC 9580 §4.2) off b: its
// tag, its body (the chunks of a partial-length body joined) and the rest.
// ok is false if b does not start with a complete packet.
func nextPacket(b []byte) (tag byte, body, rest []byte, ok bool) {
	if len(b) == 0 || b[0]&0x80 == 0 {
		return 0, nil, nil, false
	}
	h := b[0]
	b = b[1:]
	tag, _ = packetTag(h)
	if h&0x40 == 0 { // legacy format
		var n int
		switch h & 3 {
		case 0:
			n = 1
		case 1:
			n = 2
		case 2:
			n = 4
		case 3: // indeterminate: to the end
			return tag, b, nil, true
		}
		if len(b) < n {
			return 0, nil, nil, false
		}
		l := 0
		for _, c := range b[:n] {
			l = l<<8 | int(c)
		}
		b = b[n:]
		if l < 0 || l > len(b) {
			return 0, nil, nil, false
		}
		return tag, b[:l], b[l:], true
	}
	for {
		if len(b) == 0 {
			return 0, nil, nil, false
		}
		var l int
		partial := false
		switch c := b[0]; {
		case c < 192:
			l, b = int(c), b[1:]
		case c < 224:
			if len(b) < 2 {
				return 0, nil, nil, false
			}
			l, b = (int(c)-192)<<8+int(b[1])+192, b[2:]
		case c == 255:
			if len(b) < 5 {
				return 0, nil, nil, false
			}
			l, b = int(b[1])<<24|int(b[2])<<16|int(b[3])<<8|int(b[4]), b[5:]
		default:
			l, b, partial = 1<<(c&0x1f), b[1:], true
		}
		if l < 0 || l > len(b) {
			return 0, nil, nil, false
		}
		body = append(body, b[:l]...)
		b = b[l:]
		if !partial {
			return tag, body, b, true
		}
	}
}
