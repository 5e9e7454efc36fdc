package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/medchain/medchain/node/client"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", describe(err))
		os.Exit(1)
	}
}

// describe adds the JSON-RPC code to errors from a node.
func describe(err error) string {
	if code, data, ok := client.RPCError(err); ok {
		if data != nil {
			return fmt.Sprintf("%v (code %d, %v)", err, code, data)
		}
		return fmt.Sprintf("%v (code %d)", err, code)
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
