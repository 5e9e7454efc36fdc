//go:build medchaindeps

// Package deps pins the libraries chosen in DESIGN.md while the packages that
// use them are being written; go mod tidy keeps them because of this file.
package deps

import (
	_ "cel.dev/cel-go/cel"
	_ "github.com/BurntSushi/toml"
	_ "github.com/anishathalye/porcupine"
	_ "github.com/cloudflare/circl/sign/mldsa/mldsa65"
	_ "github.com/cockroachdb/pebble/v2"
	_ "github.com/ethereum/go-ethereum/rpc"
	_ "github.com/fxamacker/cbor/v2"
	_ "github.com/hashicorp/go-hclog"
	_ "github.com/hashicorp/raft"
	_ "github.com/hashicorp/raft-boltdb/v2"
	_ "github.com/libp2p/go-libp2p"
	_ "github.com/libp2p/go-libp2p/p2p/security/tls"
	_ "github.com/libp2p/go-libp2p/p2p/transport/quic"
	_ "github.com/pquerna/otp/totp"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/schollz/progressbar/v3"
	_ "github.com/spf13/cobra"
	_ "github.com/transparency-dev/merkle/compact"
	_ "github.com/transparency-dev/merkle/proof"
	_ "golang.org/x/time/rate"
)
