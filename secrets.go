package ox

import (
	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/pgp/native"
)

// MaxMessageSize bounds one message as ox reads it from a user or a
// program: the text to send (its <signcrypt/> must fit) and an <openpgp/>
// element or <message/> to open. It is the element parsers' limit.
const MaxMessageSize = element.MaxSize

// SecretKeyProtected tells whether every secret part of the transferable
// secret key(s) in data (binary) is protected by a passphrase, so that a
// caller can warn before writing an unprotected key out.
func SecretKeyProtected(data []byte) (bool, error) { return native.SecretProtected(data) }
