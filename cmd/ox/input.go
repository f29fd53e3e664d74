package main

import (
	"fmt"
	"io"
	"os"

	"codeberg.org/ox/ox"
)

// inputLimit is what a command reads at most, and what it is, for the
// error that refuses more. Each command reads through a reader limited to
// its own bound, so a huge input costs memory near that bound, never its
// own size (issue 18: 50 MB on standard input took 127 MB before the 1 MiB
// check refused it).
type inputLimit struct {
	max  int64
	what string
}

var (
	// limitText: the text of a message. Its <signcrypt/> must fit in
	// ox.MaxMessageSize, so a longer text can never be sent.
	limitText = inputLimit{ox.MaxMessageSize, "the message text"}
	// limitStanza: an <openpgp/> element or a whole <message/>, which the
	// element parsers refuse beyond ox.MaxMessageSize.
	limitStanza = inputLimit{ox.MaxMessageSize, "the message"}
	// limitKeys: a key file. A key with its subkeys and user IDs is a few
	// KiB, a much-certified one some hundreds; 8 MiB leaves room for a file
	// of many certificates.
	limitKeys = inputLimit{8 << 20, "the key file"}
)

// inputTooLargeError: the input is over its command's limit.
type inputTooLargeError struct {
	what, from string
	max        int64
}

func (e *inputTooLargeError) Error() string {
	return fmt.Sprintf("%s (%s) is larger than %s, the most ox reads for it", e.what, e.from, sizeString(e.max))
}

func sizeString(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	if n >= 1<<10 && n%(1<<10) == 0 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// readInput reads the text of a message: a file argument, or standard
// input for "-" or none.
func (e *env) readInput(name string) ([]byte, error) { return e.readLimited(name, limitText) }

// readLimited reads a file argument, or standard input for "-" or none, up
// to lim; more is refused without being read.
func (e *env) readLimited(name string, lim inputLimit) ([]byte, error) {
	var r io.Reader = e.stdin
	from := "standard input"
	if name != "" && name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > lim.max {
			return nil, &inputTooLargeError{lim.what, name, lim.max}
		}
		r, from = f, name
	}
	b, err := io.ReadAll(io.LimitReader(r, lim.max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > lim.max {
		return nil, &inputTooLargeError{lim.what, from, lim.max}
	}
	return b, nil
}
