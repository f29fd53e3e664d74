package backup

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// fuzzLimits are defaultLimits with a smaller Argon2 allowance, so that a
// fuzzed memory exponent cannot make each run allocate gigabytes, and a
// smaller iterated S2K count, so that runs stay fast (at the full count, a
// run takes 0.07 s).
var fuzzLimits = func() limits {
	l := defaultLimits
	l.maxS2KCount = 1 << 20
	l.maxArgon2MemExp = 12 // 4 MiB
	l.maxArgon2Work = 4 << 12
	return l
}()

// FuzzDecrypt feeds Decrypt mutations of backups, opened with the code of
// the lab's vector. Whatever the input, Decrypt returns either a key that
// go-crypto reads as holding a secret key, or one of the package's errors.
// The seeds: the vector (made by gpg at the full S2K count, which
// fuzzLimits refuse after parsing the packets; TestDecryptGnuPGVector opens
// it), backups in the same form (made like gpg's) and made by Encrypt, at
// the low count, a compressed one, a crypto-refresh one (SKESK v6, Argon2,
// SEIPD v2), and garbage.
func FuzzDecrypt(f *testing.F) {
	msg, code := vector(f) // fails if testdata is missing
	f.Add(msg)
	key := aliceSecret(f)
	own, err := encrypt(key, code, lowCount)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(own)
	f.Add(armored(f, "PGP MESSAGE", own))
	f.Add(gpgStyle(f, key, string(code), lowCount))
	f.Add(gpgStyle(f, []byte("not a key"), string(code), lowCount))
	f.Add(symEncrypt(f, key, string(code), &packet.Config{AEADConfig: &packet.AEADConfig{}, S2KConfig: argon2Small}))
	f.Add(symEncrypt(f, key, string(code), &packet.Config{DefaultCompressionAlgo: packet.CompressionZLIB}))
	f.Add([]byte{})
	f.Add([]byte("-----BEGIN PGP MESSAGE-----\n\n-----END PGP MESSAGE-----\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decrypt(data, code, fuzzLimits)
		if err != nil {
			if !errors.Is(err, ErrWrongCode) && !errors.Is(err, ErrNotABackup) && !errors.Is(err, ErrNoSecretKey) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v is none of the package's", err)
			}
			if got != nil {
				t.Fatal("a key and an error")
			}
			return
		}
		if len(got) > MaxSize {
			t.Fatalf("%d bytes out", len(got))
		}
		el, err := openpgp.ReadKeyRing(bytes.NewReader(got))
		if err != nil {
			t.Fatalf("Decrypt returned what go-crypto cannot read: %v", err)
		}
		for _, e := range el {
			if e.PrivateKey != nil {
				return
			}
		}
		t.Fatal("Decrypt returned no secret key")
	})
}
