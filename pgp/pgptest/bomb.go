package pgptest

import (
	"bytes"
	"crypto"
	"io"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// compressedMessage signs (with the secret key sec) and encrypts (to the
// public key pub) size zero bytes, ZLIB-compressed at the best level, as a
// GnuPG-based sender compresses: a few KiB on the wire.
func compressedMessage(t *testing.T, sec, pub []byte, size int) []byte {
	t.Helper()
	signers, err := openpgp.ReadKeyRing(bytes.NewReader(sec))
	if err != nil {
		t.Fatal(err)
	}
	to, err := openpgp.ReadKeyRing(bytes.NewReader(pub))
	if err != nil {
		t.Fatal(err)
	}
	// A recipient that prefers no compression still reads it (RFC 4880
	// §13.3.1: ZIP and ZLIB are widely read); a hostile sender ignores the
	// preference, so make the key ask for ZLIB.
	for _, e := range to {
		for _, id := range e.Identities {
			if id.SelfSignature != nil {
				id.SelfSignature.PreferredCompression = []uint8{uint8(packet.CompressionZLIB)}
			}
		}
	}
	cfg := &packet.Config{
		DefaultHash:            crypto.SHA256,
		DefaultCipher:          packet.CipherAES256,
		DefaultCompressionAlgo: packet.CompressionZLIB,
		CompressionConfig:      &packet.CompressionConfig{Level: 9},
	}
	var out bytes.Buffer
	w, err := openpgp.Encrypt(&out, to, signers[0], nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, io.LimitReader(zeros{}, int64(size))); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
