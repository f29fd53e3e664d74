package prosody

// CertFiles are the PEM files of a throw-away CA and a leaf certificate
// (see WriteCerts).
type CertFiles = certFiles

// WriteCerts makes a throw-away CA and a leaf certificate for dnsNames
// (plus 127.0.0.1 and ::1) in dir, as the Prosody harness does for its
// server: for other loopback servers of the tests (the WKD's nginx).
func WriteCerts(dir string, dnsNames []string) (CertFiles, error) {
	return writeCerts(dir, dnsNames)
}
