package prosody

import "codeberg.org/ox/ox/internal/testcert"

// CertFiles are the PEM files of a throw-away CA and a leaf certificate
// (see WriteCerts).
type CertFiles = testcert.Files

// WriteCerts makes a throw-away CA and a leaf certificate for dnsNames
// (plus 127.0.0.1 and ::1) in dir, as the Prosody harness does for its
// server: for other loopback servers of the tests (the WKD's nginx). It is
// testcert.Write, which new code should call.
func WriteCerts(dir string, dnsNames []string) (CertFiles, error) {
	return testcert.Write(dir, dnsNames)
}
