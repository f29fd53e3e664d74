package files

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// The streamed AES-GCM is the standard library's, byte for byte, for every
// length around the block size and for both IV sizes the clients send.
func TestStreamIsGCM(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	for _, ivLen := range []int{12, 16} {
		iv := make([]byte, ivLen)
		rand.Read(iv)
		b, _ := aes.NewCipher(key)
		g, err := cipher.NewGCMWithNonceSize(b, ivLen)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 1000, 65536 + 7, 200003} {
			plain := make([]byte, n)
			rand.Read(plain)
			want := g.Seal(nil, iv, plain, nil)
			var got []byte
			if ivLen == 12 {
				e, err := NewEncrypter(iotest.HalfReader(bytes.NewReader(plain)), key, iv)
				if err != nil {
					t.Fatal(err)
				}
				got, err = io.ReadAll(e)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("iv %d, %d bytes: the stream differs from cipher.GCM", ivLen, n)
				}
			}
			var out bytes.Buffer
			if _, err := Decrypt(&out, iotest.OneByteReader(bytes.NewReader(want)), key, iv, 1<<30); err != nil || !bytes.Equal(out.Bytes(), plain) {
				t.Fatalf("iv %d, %d bytes: decrypt %v", ivLen, n, err)
			}
			if n > 0 {
				bad := bytes.Clone(want)
				bad[n/2] ^= 1
				if _, err := Decrypt(io.Discard, bytes.NewReader(bad), key, iv, 1<<30); !errors.Is(err, ErrTampered) {
					t.Fatalf("iv %d, %d bytes, one bit flipped: %v, want ErrTampered", ivLen, n, err)
				}
			}
			if _, err := Decrypt(io.Discard, bytes.NewReader(want[:len(want)-1]), key, iv, 1<<30); !errors.Is(err, ErrTampered) {
				t.Fatalf("iv %d, %d bytes, cut short: %v", ivLen, n, err)
			}
		}
	}
	// The limit.
	plain := make([]byte, 5000)
	iv := make([]byte, 12)
	e, _ := NewEncrypter(bytes.NewReader(plain), key, iv)
	ct, _ := io.ReadAll(e)
	if _, err := Decrypt(io.Discard, bytes.NewReader(ct), key, iv, 4999); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
}

func BenchmarkEncrypt(b *testing.B) {
	key, iv := make([]byte, 32), make([]byte, 12)
	data := make([]byte, 1<<20)
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		e, _ := NewEncrypter(bytes.NewReader(data), key, iv)
		io.Copy(io.Discard, e)
	}
}

// The table multiplication is the bit-by-bit one of the standard.
func TestGHASHTable(t *testing.T) {
	h := make([]byte, 16)
	for i := 0; i < 200; i++ {
		rand.Read(h)
		g := newGHASH(h)
		var x [16]byte
		rand.Read(x[:])
		xHi, xLo := binary.BigEndian.Uint64(x[:8]), binary.BigEndian.Uint64(x[8:])
		wHi, wLo := mulBits(xHi, xLo, g.hHi, g.hLo)
		if gHi, gLo := g.mul(xHi, xLo); gHi != wHi || gLo != wLo {
			t.Fatalf("x·H by table %x %x, bit by bit %x %x", gHi, gLo, wHi, wLo)
		}
	}
}
