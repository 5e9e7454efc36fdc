package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/rpc"
)

// BenchResult is what medchain bench reports.
type BenchResult struct {
	Txs         int     `json:"txs"`
	Committed   int     `json:"committed"`
	Rejected    int     `json:"rejected"`
	Errors      int     `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`
	RateLimited int     `json:"rate_limited,omitempty"` // calls the gate refused as rate-limited, then sent again
	Retried     int     `json:"retried,omitempty"`      // txs sent again after a transient error (--retry)
	Encoding    string  `json:"encoding"`               // of the submissions: cbor or json
	Clients     int     `json:"clients"`
	Batch       int     `json:"batch"`
	Seconds     float64 `json:"seconds"`
	TxPerSec    float64 `json:"committed_tx_per_sec"`
	LatencyP50  float64 `json:"latency_p50_ms"`
	LatencyP99  float64 `json:"latency_p99_ms"`
	LatencyMax  float64 `json:"latency_max_ms"`
	SignSeconds float64 `json:"presign_seconds"`
	StartHeight uint64  `json:"start_height"`
	EndHeight   uint64  `json:"end_height"`
}

func newBench(g *globals) *cobra.Command {
	var n, clients, batch, patients int
	var retry time.Duration
	var encoding string
	var s signerFlags
	c := &cobra.Command{
		Use:   "bench",
		Short: "Measure committed tx/s and commit latency of a node over JSON-RPC",
		Long: `bench pre-signs N audit txs (signing is not timed), then C clients submit
them in tx_submitBatch calls of B txs that wait for commit. It reports
committed tx/s and the commit latency (submit to receipt) p50 and p99.
Submissions are CBOR-encoded (application/cbor) unless --encoding json.

With --retry D, a tx refused for a transient reason (mempool full, the wait
timed out, no leader reachable, the node unreachable) is sent again, the
same signed tx, until it commits or D has passed since its batch was first
sent: a resubmitted tx is never recorded twice (a tx already in the chain
returns its receipt), so a run through a leader election ends with every
tx committed once. The latency of a retried tx includes its retries.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if n < 1 || clients < 1 || batch < 1 || patients < 1 {
				return fmt.Errorf("-n, -c, --batch and --patients must be positive")
			}
			if retry < 0 {
				return fmt.Errorf("--retry must not be negative")
			}
			enc, err := client.ParseEncoding(encoding)
			if err != nil {
				return fmt.Errorf("--encoding: %w", err)
			}
			key, err := g.signerKey(s.as, s.key)
			if err != nil {
				return err
			}
			ctx := context.Background()
			g.as, g.keyFile = s.as, s.key
			cl, err := g.dial(ctx)
			if err != nil {
				return err
			}
			defer cl.Close()
			cl.SetEncoding(enc)
			signer := cl.Signer(s.as, key)

			t0 := time.Now()
			txs := make([]*types.Tx, n)
			bar := progressbar.NewOptions(n, progressbar.OptionSetDescription("pre-signing"), progressbar.OptionSetWriter(os.Stderr),
				progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish(), progressbar.OptionShowCount(), progressbar.OptionSetVisibility(isTerminal(os.Stderr)))
			var wg sync.WaitGroup
			var signErr atomic.Value
			workers := runtime.GOMAXPROCS(0)
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i := w; i < n; i += workers {
						a := &types.AuditRecord{EventType: "data_access", Patient: fmt.Sprintf("bench-patient-%d", i%patients), Actor: s.as,
							Action: "view_record", Purpose: "treatment", Outcome: "success", Resource: fmt.Sprintf("Observation/%d", i)}
						tx, err := signer.Build(a)
						if err != nil {
							signErr.Store(err)
							return
						}
						txs[i] = tx
						bar.Add(1)
					}
				}(w)
			}
			wg.Wait()
			bar.Finish()
			if e := signErr.Load(); e != nil {
				return e.(error)
			}
			res := BenchResult{Txs: n, Encoding: enc.String(), Clients: clients, Batch: batch, SignSeconds: time.Since(t0).Seconds()}
			if st, err := cl.Status(ctx); err == nil {
				res.StartHeight = st.Height
			}

			var next, limited atomic.Int64
			var mu sync.Mutex
			lat := make([]float64, 0, n)
			bar = progressbar.NewOptions(n, progressbar.OptionSetDescription("submitting"), progressbar.OptionSetWriter(os.Stderr),
				progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish(), progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetVisibility(isTerminal(os.Stderr)))
			start := time.Now()
			for w := 0; w < clients; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					wc := cl // one client, one session: every worker shares it
					for {
						i := int(next.Add(int64(batch))) - batch
						if i >= n {
							return
						}
						part := txs[i:min(i+batch, n)]
						sent := submitWithRetry(ctx, wc, part, retry)
						limited.Add(int64(sent.limited))
						mu.Lock()
						res.Retried += sent.retried
						for j, it := range sent.items {
							switch {
							case it.Error != nil:
								res.Errors++
								if res.FirstError == "" {
									res.FirstError = it.Error.Message
								}
							case it.Receipt != nil && it.Receipt.Result.OK():
								res.Committed++
								lat = append(lat, sent.ms[j])
							default:
								res.Rejected++
							}
						}
						mu.Unlock()
						bar.Add(len(part))
					}
				}()
			}
			wg.Wait()
			bar.Finish()
			res.Seconds = time.Since(start).Seconds()
			res.RateLimited = int(limited.Load())
			res.TxPerSec = float64(res.Committed) / res.Seconds
			slices.Sort(lat)
			res.LatencyP50, res.LatencyP99 = percentile(lat, 0.50), percentile(lat, 0.99)
			if len(lat) > 0 {
				res.LatencyMax = lat[len(lat)-1]
			}
			// The gate may refuse this read for the rate the bench itself
			// used up (each refusal costs a second): try a few times.
			for attempt := 0; attempt < 3; attempt++ {
				if st, err := cl.Status(ctx); err == nil {
					res.EndHeight = st.Height
					break
				}
				time.Sleep(time.Second)
			}
			if err := g.print(res, func(w io.Writer) {
				fmt.Fprintf(w, "medchain bench: %d signed audit txs, %d clients, batches of %d, %s (pre-signing took %.1fs, not timed)\n", n, clients, batch, res.Encoding, res.SignSeconds)
				blocks := fmt.Sprintf("blocks %d..%d", res.StartHeight+1, res.EndHeight)
				if res.EndHeight <= res.StartHeight {
					blocks = fmt.Sprintf("from block %d; the node did not answer the end height", res.StartHeight+1)
				}
				fmt.Fprintf(w, "  committed   %d in %.2fs = %.0f tx/s (%s)\n", res.Committed, res.Seconds, res.TxPerSec, blocks)
				fmt.Fprintf(w, "  latency     p50 %.1f ms, p99 %.1f ms, max %.1f ms (submit to commit receipt)\n", res.LatencyP50, res.LatencyP99, res.LatencyMax)
				if res.RateLimited > 0 {
					fmt.Fprintf(w, "  rate-limited %d times by the zero-trust gate (each waited 1 s, so the figures above understate the node):\n"+
						"    raise the limits of the node you measure, e.g. MEDCHAIN_ZEROTRUST_USER_PER_MINUTE and MEDCHAIN_ZEROTRUST_BURST\n", res.RateLimited)
				}
				if res.Retried > 0 {
					fmt.Fprintf(w, "  retried     %d txs after a transient error (--retry)\n", res.Retried)
				}
				if res.Rejected+res.Errors > 0 {
					fmt.Fprintf(w, "  rejected %d, errors %d; first error: %s\n", res.Rejected, res.Errors, res.FirstError)
				}
			}); err != nil {
				return err
			}
			if res.Committed != n {
				return fmt.Errorf("%d of %d txs did not commit", n-res.Committed, n)
			}
			return nil
		},
	}
	f := c.Flags()
	f.IntVarP(&n, "txs", "n", 20000, "txs to submit")
	f.IntVarP(&clients, "clients", "c", 8, "concurrent clients")
	f.IntVar(&batch, "batch", 250, "txs per tx_submitBatch call")
	f.IntVar(&patients, "patients", 1000, "spread the events over this many patients")
	f.DurationVar(&retry, "retry", 0, "send a tx refused for a transient reason again, for up to this long per batch (0: count it as an error)")
	f.StringVar(&encoding, "encoding", "cbor", "encoding of the submissions: cbor (application/cbor, txs as bytes) or json (base64 in JSON)")
	f.StringVar(&s.as, "as", "doctor456", "identity that signs the txs (needs the clinician, physician, ehr or admin role)")
	f.StringVar(&s.key, "key", "", "key file of that identity (default <data-dir>/keys/<as>.key)")
	return c
}

// percentile returns the p-quantile (nearest rank) of sorted values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// batchOutcome is what one batch's submission came to: an item per tx of
// the batch, its final answer (an error of the whole call is every unsent
// tx's error), with the latency its client saw; how often the gate
// rate-limited the batch and how many txs were sent again.
type batchOutcome struct {
	items   []rpc.BatchItem
	ms      []float64
	limited int
	retried int
}

// submitWithRetry sends part in tx_submitBatch calls that wait for commit.
// A call the gate refuses as rate-limited is sent again a second later (up
// to 120 times; the wait is not counted in the latency). With retry > 0,
// the txs refused for a transient reason are sent again, with a growing
// pause, until retry has passed since the first call.
func submitWithRetry(ctx context.Context, cl *client.Client, part []*types.Tx, retry time.Duration) batchOutcome {
	out := batchOutcome{items: make([]rpc.BatchItem, len(part)), ms: make([]float64, len(part))}
	pending := make([]int, len(part)) // indices into part still to send
	for j := range pending {
		pending[j] = j
	}
	first := time.Now()
	deadline := first.Add(retry)
	pause := 100 * time.Millisecond
	again := func() bool {
		if retry <= 0 || time.Now().Add(pause).After(deadline) {
			return false
		}
		time.Sleep(pause)
		pause = min(2*pause, 2*time.Second)
		return true
	}
	for {
		send := make([]*types.Tx, len(pending))
		for k, j := range pending {
			send[k] = part[j]
		}
		items, err := cl.SubmitMany(ctx, send, true)
		if err == nil && len(items) != len(send) { // a broken answer: not worth a retry
			err = fmt.Errorf("the node answered %d items for %d txs", len(items), len(send))
			for _, j := range pending {
				out.items[j] = rpc.BatchItem{Error: &rpc.BatchError{Message: err.Error()}}
			}
			return out
		}
		code, _, isRPC := client.RPCError(err)
		switch {
		case err != nil && isRPC && code == rpc.CodeRateLimited && out.limited < 120:
			out.limited++
			time.Sleep(time.Second)
			first = first.Add(time.Second) // the gate's wait is not the node's latency
			continue
		case err != nil && (!isRPC || transientCode(code)) && again():
			out.retried += len(pending)
			continue
		case err != nil:
			for _, j := range pending {
				out.items[j] = rpc.BatchItem{Error: &rpc.BatchError{Code: code, Message: err.Error()}}
			}
			return out
		}
		ms := float64(time.Since(first).Microseconds()) / 1000
		var left []int
		for k, it := range items {
			j := pending[k]
			if it.Error != nil && transientCode(it.Error.Code) && retry > 0 {
				left = append(left, j)
			}
			out.items[j], out.ms[j] = it, ms
		}
		if len(left) == 0 || !again() {
			return out
		}
		out.retried += len(left)
		pending = left
	}
}

// transientCode reports whether a tx_submit error code means the same tx
// may be sent again later: the mempool was full, the wait for the commit
// timed out (it may have committed: sent again, it returns its receipt), or
// no leader could be reached.
func transientCode(code int) bool {
	return code == rpc.CodeBusy || code == rpc.CodeTimeout || code == rpc.CodeUnavailable
}
