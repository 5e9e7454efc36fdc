// Package node is medchain's composition root: it turns a config into a
// running ledger node (store, consensus, JSON-RPC, metrics) and creates new
// chains (Init). The packages it wires know nothing of each other beyond
// their interfaces; node adapts consensus to the RPC layer's Ledger.
//
//	res, err := node.Init(node.InitOptions{DataDir: ".medchain", Dev: true})
//	cfg, err := config.Load(res.ConfigPath, os.Environ())
//	n, err := node.Open(cfg, logger)
//	err = n.Run(ctx) // serves until ctx is done, then closes
package node
