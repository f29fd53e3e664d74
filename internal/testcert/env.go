package testcert

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// Required reports whether tests must fail, rather than skip, when a server
// binary is missing: in CI (CI set to anything) or with
// OX_REQUIRE_INTEGRATION=1.
func Required() bool {
	return os.Getenv("CI") != "" || os.Getenv("OX_REQUIRE_INTEGRATION") == "1"
}

// FreePorts returns n distinct TCP ports that were free on 127.0.0.1 a
// moment ago: it listens on port 0 and closes. Another process can take one
// before the server binds it; the harnesses notice and try again.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("testcert: pick a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Tail returns the last n lines of a file, or a note why it cannot.
func Tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// CheckDomain accepts plain DNS names: the domain goes into a config file,
// the certificate and command lines.
func CheckDomain(d string) error {
	if len(d) > 253 {
		return fmt.Errorf("domain too long")
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("invalid domain %q", d)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("invalid domain %q (lower-case letters, digits, '-' and '.' only)", d)
			}
		}
	}
	return nil
}
