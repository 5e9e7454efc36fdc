package consensus_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/medchain/medchain/consensus"
	"github.com/medchain/medchain/consensus/consensustest"
)

// TestCloseFinishesPromptlyRightAfterStart restarts a node that has a chain
// and closes it at several early points: before Raft elected it, while it
// replays its log, while its term-start barrier or its first blocks are in
// Raft, and once it leads, with and without load. Close must return within a
// bound in every state. Before the fix, Close could hang for ever when Raft
// shut down with the leader's barrier (or a block) committed but not yet
// applied: Raft never answers such a future, and the proposer waited on it
// without watching the node's shutdown (seen as medchain start never exiting
// after a SIGINT within about a second of starting).
func TestCloseFinishesPromptlyRightAfterStart(t *testing.T) {
	c := consensustest.New(t, consensustest.Options{LogLevel: 12}) // quiet: errors at shutdown are expected
	n := c.WaitLeader(10 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dr := c.RegisterClinician(ctx, n, "dr-1", 7)
	for i := range 20 {
		if _, err := n.SubmitAndWait(ctx, c.SignTx("dr-1", dr, consensustest.Audit("dr-1", "patient-1", i))); err != nil {
			t.Fatal(err)
		}
	}
	// Replay is slow on a real chain (blocks of megabytes); here each entry
	// takes a millisecond more to apply, so a restart spends its first
	// ~half second handing the log to the FSM, with the barrier queued
	// behind it.
	for i := range 400 {
		tx := c.SignTx("dr-1", dr, consensustest.Audit("dr-1", "patient-2", i))
		if _, err := n.SubmitAndWait(ctx, tx); err != nil {
			t.Fatal(err)
		}
	}
	defer consensus.SetApplyHook(func(uint64) { time.Sleep(time.Millisecond) })()
	const bound = 10 * time.Second
	delays := []time.Duration{0, time.Millisecond, 3 * time.Millisecond, 10 * time.Millisecond, 30 * time.Millisecond,
		100 * time.Millisecond, 300 * time.Millisecond, time.Second}
	seq := 20
	for _, load := range []bool{false, true} {
		for _, d := range delays {
			for round := range 3 {
				name := fmt.Sprintf("load=%v/after=%v/round=%d", load, d, round)
				c.Stop(0)
				start := time.Now()
				n := c.Start(0)
				var wg sync.WaitGroup
				stop := make(chan struct{})
				if load {
					for w := range 4 {
						wg.Add(1)
						go func(w int) {
							defer wg.Done()
							for i := 0; ; i++ {
								select {
								case <-stop:
									return
								default:
								}
								tx := c.SignTx("dr-1", dr, consensustest.Audit("dr-1", "patient-1", seq*1000+w*100000+i))
								if _, err := n.Submit(ctx, tx); err != nil {
									time.Sleep(time.Millisecond) // not leader yet, or closed
								}
							}
						}(w)
					}
				}
				time.Sleep(d)
				closed := make(chan error, 1)
				go func() { closed <- n.Close() }()
				select {
				case <-closed:
				case <-time.After(bound):
					// t.Fatal would hang too: the cleanup closes the node again.
					buf := make([]byte, 1<<20)
					buf = buf[:runtime.Stack(buf, true)]
					fmt.Fprintf(os.Stderr, "--- FAIL: %s: %s: Close did not return within %v of closing (%v after start)\n%s\n",
						t.Name(), name, bound, time.Since(start), buf)
					os.Exit(1)
				}
				close(stop)
				wg.Wait()
				seq++
			}
		}
	}
	// After all that the node starts and serves.
	c.Stop(0)
	c.Start(0)
	n = c.WaitLeader(10 * time.Second)
	if _, err := n.SubmitAndWait(ctx, c.SignTx("dr-1", dr, consensustest.Audit("dr-1", "patient-1", 999999))); err != nil {
		t.Fatal(err)
	}
}
