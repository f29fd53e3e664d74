package files

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"io"
)

// AES-GCM (NIST SP 800-38D) as one message over a whole file, computed as
// the data streams: CTR mode from the standard library for the cipher, and
// GHASH here, since crypto/cipher's GCM needs the whole message in memory.
// What is sent and received is byte for byte what cipher.NewGCM makes with
// the same key and IV (a test holds it to that): the ciphertext, then the
// 16-byte tag, as XEP-0454 and the other clients have it.

const tagSize = 16

// ErrTampered: the file's authentication tag does not match: it was
// changed, cut short, or encrypted with another key.
var ErrTampered = errors.New("files: the file was tampered with or damaged (its AES-GCM tag does not match)")

// ghash is GHASH_H over a stream of 16-byte blocks (SP 800-38D §6.4).
// Field elements are two uint64 in GCM's bit order: the first byte's most
// significant bit is the coefficient of x^0.
type ghash struct {
	hHi, hLo uint64
	tab      [16][2]uint64 // tab[n]: the nibble n (as x^0..x^3) times H
	yHi, yLo uint64
	buf      [16]byte
	n        int    // bytes in buf
	total    uint64 // bytes hashed (of the ciphertext)
}

// red[m] is x^4 times the element whose x^124..x^127 coefficients are the
// bits of m: what the four bits shifted out by a multiplication by x^4
// bring back, reduced by the field's polynomial.
var red = func() (r [16][2]uint64) {
	for m := range r {
		hi, lo := uint64(0), uint64(m)
		for i := 0; i < 4; i++ {
			hi, lo = mulX(hi, lo)
		}
		r[m] = [2]uint64{hi, lo}
	}
	return r
}()

// mulX multiplies by x (SP 800-38D §6.3: a right shift, and R when the
// x^127 coefficient falls out).
func mulX(hi, lo uint64) (uint64, uint64) {
	lsb := lo & 1
	lo = lo>>1 | hi<<63
	hi = hi>>1 ^ (0xe1 << 56 & -lsb)
	return hi, lo
}

// mulBits multiplies x by y bit by bit (SP 800-38D §6.3, Algorithm 1): the
// reference the table is built with, and that a test checks it against.
func mulBits(xHi, xLo, yHi, yLo uint64) (uint64, uint64) {
	var zHi, zLo uint64
	for i := 0; i < 128; i++ {
		var bit uint64
		if i < 64 {
			bit = (xHi >> (63 - i)) & 1
		} else {
			bit = (xLo >> (127 - i)) & 1
		}
		zHi ^= yHi & -bit
		zLo ^= yLo & -bit
		yHi, yLo = mulX(yHi, yLo)
	}
	return zHi, zLo
}

func newGHASH(h []byte) *ghash {
	g := &ghash{hHi: binary.BigEndian.Uint64(h[:8]), hLo: binary.BigEndian.Uint64(h[8:])}
	for n := range g.tab {
		hi, lo := mulBits(uint64(n)<<60, 0, g.hHi, g.hLo)
		g.tab[n] = [2]uint64{hi, lo}
	}
	return g
}

// mul returns x·H four bits at a time (Horner's rule from the last nibble:
// z = z·x^4 + nibble·H).
func (g *ghash) mul(xHi, xLo uint64) (uint64, uint64) {
	var zHi, zLo uint64
	for k := 31; k >= 0; k-- {
		var n uint64
		if k < 16 {
			n = xHi >> (60 - 4*k) & 0xf
		} else {
			n = xLo >> (60 - 4*(k-16)) & 0xf
		}
		r := red[zLo&0xf]
		zLo = (zLo>>4 | zHi<<60) ^ r[1] ^ g.tab[n][1]
		zHi = zHi>>4 ^ r[0] ^ g.tab[n][0]
	}
	return zHi, zLo
}

// block sets y = (y xor b) · H.
func (g *ghash) block(b []byte) {
	g.yHi, g.yLo = g.mul(g.yHi^binary.BigEndian.Uint64(b[:8]), g.yLo^binary.BigEndian.Uint64(b[8:]))
}

func (g *ghash) Write(p []byte) (int, error) {
	n := len(p)
	g.total += uint64(n)
	if g.n > 0 {
		k := copy(g.buf[g.n:], p)
		g.n += k
		p = p[k:]
		if g.n < 16 {
			return n, nil
		}
		g.block(g.buf[:])
		g.n = 0
	}
	for len(p) >= 16 {
		g.block(p[:16])
		p = p[16:]
	}
	g.n = copy(g.buf[:], p)
	return n, nil
}

// pad hashes what is buffered, padded with zeros to a block.
func (g *ghash) pad() {
	if g.n > 0 {
		clear(g.buf[g.n:])
		g.block(g.buf[:])
		g.n = 0
	}
}

// sum returns GHASH over the data (no additional data) and the lengths.
func (g *ghash) sum(aadBits, dataBits uint64) [16]byte {
	g.pad()
	var l [16]byte
	binary.BigEndian.PutUint64(l[:8], aadBits)
	binary.BigEndian.PutUint64(l[8:], dataBits)
	g.block(l[:])
	var out [16]byte
	binary.BigEndian.PutUint64(out[:8], g.yHi)
	binary.BigEndian.PutUint64(out[8:], g.yLo)
	return out
}

// stream is AES-GCM's state for one file: the keystream and the hash.
type stream struct {
	ctr  cipher.Stream
	hash *ghash
	ej0  [16]byte // E_K(J0), which masks the tag
}

func newStream(key, iv []byte) (*stream, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	var h [16]byte
	b.Encrypt(h[:], h[:])
	var j0 [16]byte
	if len(iv) == 12 {
		copy(j0[:], iv)
		j0[15] = 1
	} else {
		// Other IV lengths (16 bytes, as some clients send): J0 is GHASH
		// of the IV (SP 800-38D §7.1 step 2).
		g := newGHASH(h[:])
		g.Write(iv)
		j0 = g.sum(0, uint64(len(iv))*8)
	}
	s := &stream{hash: newGHASH(h[:])}
	b.Encrypt(s.ej0[:], j0[:])
	ctr := j0
	binary.BigEndian.PutUint32(ctr[12:], binary.BigEndian.Uint32(ctr[12:])+1)
	s.ctr = cipher.NewCTR(b, ctr[:])
	return s, nil
}

func (s *stream) tag() [16]byte {
	t := s.hash.sum(0, s.hash.total*8)
	subtle.XORBytes(t[:], t[:], s.ej0[:])
	return t
}

// Encrypter reads a file and gives its AES-GCM ciphertext followed by the
// tag: Size(n) bytes for n bytes of file.
type Encrypter struct {
	src  io.Reader
	s    *stream
	tail []byte // the tag, once src is done
	done bool
}

// NewEncrypter encrypts src with key (32 bytes) and iv (12 bytes).
func NewEncrypter(src io.Reader, key, iv []byte) (*Encrypter, error) {
	s, err := newStream(key, iv)
	if err != nil {
		return nil, err
	}
	return &Encrypter{src: src, s: s}, nil
}

// EncryptedSize is the size of the upload of an n-byte file.
func EncryptedSize(n int64) int64 { return n + tagSize }

func (e *Encrypter) Read(p []byte) (int, error) {
	if e.done {
		if len(e.tail) == 0 {
			return 0, io.EOF
		}
		n := copy(p, e.tail)
		e.tail = e.tail[n:]
		return n, nil
	}
	n, err := e.src.Read(p)
	if n > 0 {
		e.s.ctr.XORKeyStream(p[:n], p[:n])
		e.s.hash.Write(p[:n])
	}
	if err == io.EOF {
		e.done = true
		t := e.s.tag()
		e.tail = t[:]
		if n == 0 {
			return e.Read(p)
		}
		return n, nil
	}
	return n, err
}

// Decrypt reads ciphertext followed by the tag from src and writes the
// plaintext to dst as it goes; it returns ErrTampered when the tag does not
// match, in which case what was written must be thrown away (the caller
// writes to a temporary file and keeps it only on success). At most limit
// bytes of plaintext are written (ErrTooLarge beyond).
func Decrypt(dst io.Writer, src io.Reader, key, iv []byte, limit int64) (int64, error) {
	s, err := newStream(key, iv)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 64<<10+tagSize)
	have := 0 // bytes in buf; the last tagSize of them may be the tag
	var written int64
	for {
		n, rerr := src.Read(buf[have:])
		have += n
		if have > tagSize {
			out := buf[:have-tagSize]
			if written+int64(len(out)) > limit {
				return written, ErrTooLarge
			}
			s.hash.Write(out)
			s.ctr.XORKeyStream(out, out)
			if _, err := dst.Write(out); err != nil {
				return written, err
			}
			written += int64(len(out))
			copy(buf, buf[have-tagSize:have])
			have = tagSize
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return written, rerr
		}
	}
	if have < tagSize {
		return written, ErrTampered
	}
	want := s.tag()
	if subtle.ConstantTimeCompare(want[:], buf[:tagSize]) != 1 {
		return written, ErrTampered
	}
	return written, nil
}

// ErrTooLarge: the file is larger than allowed.
var ErrTooLarge = errors.New("files: the file is larger than allowed")
