package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/rpc"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", describe(err))
		os.Exit(1)
	}
}

// describe adds the JSON-RPC code to errors from a node, and what to do
// about a refusal of the zero-trust gate.
func describe(err error) string {
	if code, data, ok := client.RPCError(err); ok {
		s := fmt.Sprintf("%v (code %d)", err, code)
		if data != nil {
			s = fmt.Sprintf("%v (code %d, %v)", err, code, data)
		}
		return s + gateHint(code, data)
	}
	var ue interface{ Unwrap() []error }
	if errors.As(err, &ue) {
		s := ""
		for _, e := range ue.Unwrap() {
			s += "\n  " + e.Error()
		}
		return s
	}
	return err.Error()
}

// gateHint says how to get past a gate refusal the CLI could not fix by
// itself ("" for other errors).
func gateHint(code int, data any) string {
	m, _ := data.(map[string]any)
	seg, _ := m["method_segment"].(string)
	switch {
	case code == rpc.CodeUnauthenticated:
		return "\n  log in: medchain login --as ID (with --totp CODE for the internal, clinical and critical segments)"
	case code == rpc.CodeForbidden && m["reason"] == "segment" && seg != "":
		return fmt.Sprintf("\n  this method is in the %s segment: log in as an identity whose roles enter it, with MFA:\n"+
			"    medchain mfa enroll --as ID --save-secret    (once; dev: saves the TOTP secret in the data dir)\n"+
			"    medchain login --as ID --totp $(medchain mfa code --as ID) --segment %s", seg, seg)
	}
	return ""
}
