package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/config"
)

func newCluster(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "cluster", Short: "Create, inspect and steer a replicated cluster"}
	c.AddCommand(newClusterInit(g), newClusterStatus(g), newClusterNodes(g), newClusterTransfer(g))
	return c
}

func newClusterInit(g *globals) *cobra.Command {
	var opts node.ClusterInitOptions
	var alg string
	c := &cobra.Command{
		Use:   "init --dir DIR -n N",
		Short: "Create a chain with N nodes on 127.0.0.1 (one data dir each) for a testnet",
		Long: `cluster init writes DIR/node-1 ... DIR/node-N: each with its ML-DSA and
libp2p keys, the shared genesis (admitting the N nodes with their peer ids
and addresses) and a config with [p2p] enabled, and bootstraps Raft on each
with the N voters. Node i serves JSON-RPC on 127.0.0.1:rpc-port+i-1 and
libp2p on 127.0.0.1:p2p-port+i-1. Admin and demo keys are copied into every
data dir. Start each node with: medchain start --data-dir DIR/node-i`,
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := crypto.ParseAlgorithm(alg)
			if err != nil {
				return err
			}
			opts.Algorithm = a
			res, err := node.InitCluster(opts)
			if err != nil {
				return err
			}
			return g.print(res, func(w io.Writer) {
				fmt.Fprintf(w, "Initialized chain %q with %d nodes in %s\n", res.ChainID, len(res.Configs), opts.Dir)
				for i, cfg := range res.Configs {
					fmt.Fprintf(w, "  %s  rpc http://%s  p2p %s\n", cfg.Node.ID, cfg.RPC.Listen, res.Peers[i])
				}
			})
		},
	}
	f := c.Flags()
	f.StringVar(&opts.Dir, "dir", "testnet/.run/data", "parent dir of the node data dirs")
	f.IntVarP(&opts.N, "nodes", "n", 3, "number of nodes")
	f.StringVar(&opts.ChainID, "chain-id", "medchain-testnet", "chain id")
	f.BoolVar(&opts.Dev, "dev", true, "add the demo identities (doctor456, patient123, ...) and their keys")
	f.IntVar(&opts.Admins, "admins", 1, "admin identities in genesis (admin, admin-2, ...)")
	f.IntVar(&opts.Threshold, "threshold", 1, "admin approvals that admit or remove a node")
	f.IntVar(&opts.RPCBasePort, "rpc-port", 8545, "JSON-RPC port of node-1 (node i: +i-1)")
	f.IntVar(&opts.P2PBasePort, "p2p-port", 7600, "libp2p TCP port of node-1 (node i: +i-1)")
	f.StringVar(&alg, "alg", "ML-DSA-65", "signature algorithm")
	return c
}

func newClusterStatus(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Members, roles, regions, leader, applied index and lag per node",
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withClient(func(ctx context.Context, c *client.Client) error {
				st, err := c.ClusterStatus(ctx)
				if err != nil {
					return err
				}
				return g.print(st, func(w io.Writer) {
					fmt.Fprintf(w, "chain %s  transport %s  asked %s  leader %s (applied index %d)\n", st.ChainID, st.Transport, st.Self, dash(st.Leader), st.Applied)
					fmt.Fprintf(w, "%-12s %-9s %-9s %-10s %-10s %8s %8s %6s  %s\n", "NODE", "SUFFRAGE", "ROLE", "REGION", "STATE", "APPLIED", "HEIGHT", "LAG", "HEAD")
					for _, m := range st.Members {
						head := m.HeadHash
						if len(head) > 16 {
							head = head[:16]
						}
						if m.Error != "" {
							head = "unreachable: " + m.Error
						}
						fmt.Fprintf(w, "%-12s %-9s %-9s %-10s %-10s %8d %8d %6d  %s\n", m.NodeID, m.Suffrage, dash(m.Role), dash(m.Region), dash(m.State), m.AppliedIndex, m.Height, m.Lag, head)
					}
					if len(st.Pending) > 0 {
						fmt.Fprintf(w, "pending joins: %s\n", strings.Join(st.Pending, ", "))
					}
					if len(st.Removed) > 0 {
						fmt.Fprintf(w, "removed: %s\n", strings.Join(st.Removed, ", "))
					}
				})
			})
		},
	}
}

func newClusterNodes(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "nodes",
		Short: "The on-chain node records (pending, admitted, removed) and their approvals",
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withClient(func(ctx context.Context, c *client.Client) error {
				recs, err := c.Nodes(ctx)
				if err != nil {
					return err
				}
				return g.print(recs, func(w io.Writer) {
					for _, r := range recs {
						fmt.Fprintf(w, "%-12s %-9s %-8s %-10s approvals=%v removals=%v peer=%s\n", r.NodeID, r.Status, r.Role, dash(r.Region), r.Approvals, r.Removals, r.PeerID)
					}
				})
			})
		},
	}
}

func newClusterTransfer(g *globals) *cobra.Command {
	var to string
	c := &cobra.Command{
		Use:   "transfer-leader --to NODE",
		Short: "Hand Raft leadership to another voter",
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withClient(func(ctx context.Context, c *client.Client) error {
				if err := c.TransferLeader(ctx, to); err != nil {
					return err
				}
				fmt.Fprintf(g.out, "leadership transferred to %s\n", dash(to))
				return nil
			})
		},
	}
	c.Flags().StringVar(&to, "to", "", "node id of the new leader (default: the leader picks)")
	return c
}

func newJoin(g *globals) *cobra.Command {
	var opts node.JoinOptions
	var listen []string
	var rpcListen string
	c := &cobra.Command{
		Use:   "join --node-id ID --p2p-listen MULTIADDR --rpc URL",
		Short: "Prepare a new node and submit its signed join request through a member",
		Long: `join writes the new node's ML-DSA and libp2p keys (0600), the chain's genesis
(fetched from the member at --rpc), and a config with [p2p] enabled and
consensus.join set into --data-dir, then submits the node_join request,
signed by the new node's own key, through the member's JSON-RPC.

Admins then approve it (medchain tx node approve --node-id ID); at the
genesis threshold the node is admitted on chain. Start it with
  medchain start --data-dir DIR
and the leader adds it as a non-voter, then promotes it once caught up.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withClient(func(ctx context.Context, c *client.Client) error {
				gen, err := c.Genesis(ctx)
				if err != nil {
					return fmt.Errorf("fetch genesis from %s: %w", g.rpcURL, err)
				}
				recs, err := c.Nodes(ctx)
				if err != nil {
					return err
				}
				for _, r := range recs {
					if r.Status == "admitted" {
						for _, a := range r.Addrs {
							if strings.Contains(a, "/p2p/") {
								opts.Bootstrap = append(opts.Bootstrap, a)
							} else {
								opts.Bootstrap = append(opts.Bootstrap, a+"/p2p/"+r.PeerID)
							}
						}
					}
				}
				cfg := config.DefaultConfig()
				cfg.P2P.Listen = listen
				cfg.RPC.Listen = rpcListen
				opts.Config, opts.DataDir, opts.Genesis = &cfg, g.dataDir, gen
				res, err := node.Join(opts)
				if err != nil {
					return err
				}
				r, err := c.Submit(ctx, res.Tx, true)
				if err != nil {
					return fmt.Errorf("submit join request: %w", err)
				}
				if r.Receipt != nil && !r.Receipt.Result.OK() {
					return fmt.Errorf("join request rejected: %s: %s", r.Receipt.Result.Code, r.Receipt.Result.Reason)
				}
				return g.print(r, func(w io.Writer) {
					fmt.Fprintf(w, "Join request of %s (peer %s) committed: tx %s\n", opts.NodeID, res.PeerID, r.TxHash)
					fmt.Fprintf(w, "  data dir %s\n  config   %s\n", g.dataDir, res.ConfigPath)
					fmt.Fprintf(w, "Next: admins approve it (medchain tx node approve --node-id %s --as admin), then\n  medchain start --data-dir %s\n", opts.NodeID, g.dataDir)
				})
			})
		},
	}
	f := c.Flags()
	f.StringVar(&opts.NodeID, "node-id", "", "the new node's id")
	f.StringVar(&opts.Region, "region", "", "the node's region")
	f.StringVar(&opts.Role, "role", types.NodeRoleVoter, "requested role: voter or observer")
	f.StringSliceVar(&listen, "p2p-listen", []string{"/ip4/127.0.0.1/tcp/7610"}, "libp2p listen multiaddrs (put in the join request)")
	f.StringVar(&rpcListen, "rpc-listen", "127.0.0.1:8555", "the new node's JSON-RPC listen address")
	return c
}

func newTxNode(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "node", Short: "Approve or remove nodes (admins)"}
	var s1, s2 signerFlags
	var id1, id2, reason string
	approve := &cobra.Command{
		Use:   "approve --node-id ID",
		Short: "Approve a pending join request",
		RunE:  func(cmd *cobra.Command, args []string) error { return g.send(&s1, &types.NodeApprove{NodeID: id1}) },
	}
	approve.Flags().StringVar(&id1, "node-id", "", "node to approve")
	s1.add(approve, "admin")
	remove := &cobra.Command{
		Use:   "remove --node-id ID",
		Short: "Vote to remove a node (removed at the approval threshold)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.send(&s2, &types.NodeRemove{NodeID: id2, Reason: reason})
		},
	}
	remove.Flags().StringVar(&id2, "node-id", "", "node to remove")
	remove.Flags().StringVar(&reason, "reason", "", "why")
	s2.add(remove, "admin")
	c.AddCommand(approve, remove)
	return c
}
