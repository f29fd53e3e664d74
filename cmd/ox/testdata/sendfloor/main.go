// Command sendfloor is the least a process can do to hand a message to a
// running ox daemon: dial its socket, write one JSON-RPC send, read the
// answer. BenchmarkSendProcess times it beside `ox send` to show what
// starting any Go process costs on the machine: the floor under `ox send`
// through the daemon.
//
// Usage: sendfloor SOCKET TO TEXT
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: sendfloor SOCKET TO TEXT")
		os.Exit(2)
	}
	c, err := net.Dial("unix", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	req, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "send",
		"params": map[string]string{"to": os.Args[2], "text": os.Args[3]}})
	if _, err := c.Write(append(req, '\n')); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(line, `"result"`) {
		fmt.Fprintln(os.Stderr, "no result:", line, err)
		os.Exit(1)
	}
}
