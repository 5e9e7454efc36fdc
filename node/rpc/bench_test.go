package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/chaintest"
	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/chain/verify"
)

// rpcCaller posts JSON-RPC calls over one kept-alive HTTP connection.
type rpcCaller struct {
	url string
	c   *http.Client
}

func newCaller(url string) *rpcCaller {
	return &rpcCaller{url: url, c: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
}

// call returns the raw result, failing on transport or JSON-RPC errors.
func (r *rpcCaller) call(b *testing.B, body []byte) json.RawMessage {
	resp, err := r.c.Post(r.url, "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		b.Fatal(err)
	}
	var out rpcResp
	if err := json.Unmarshal(raw, &out); err != nil || out.Error != nil {
		b.Fatalf("%s: %v %s", body, err, raw)
	}
	return out.Result
}

func request(method string, params ...any) []byte {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	return b
}

// BenchmarkConsentVerifyRPC measures consent_verify through the whole JSON-RPC
// handler (HTTP over loopback with httptest, request decoding, the store read,
// the decision, the response) per call, and reports p50 and p99.
//
//	go test -run '^$' -bench ConsentVerifyRPC -benchtime 20000x ./node/rpc/
func BenchmarkConsentVerifyRPC(b *testing.B) {
	h := newHarness(b)
	c := h.l.c
	blk := c.Commit(c.Tx("patient123", &types.ConsentGrant{Patient: "patient123", ConsentType: "data_sharing", Granted: true,
		Scope: types.ConsentScope{Purposes: []string{"treatment", "research"}, Parties: []string{"doctor456", "researcher789"},
			Expiration: c.Now + int64(365*24*time.Hour/time.Millisecond)}}))
	if !blk.Results[0].OK() {
		b.Fatal(blk.Results[0])
	}
	rc := newCaller(h.srv.URL)
	body := request("consent_verify", map[string]string{"patient": "patient123", "consent_type": "data_sharing", "purpose": "research", "requester_id": "doctor456"})
	lat := make(chaintest.Latencies, 0, b.N)
	for b.Loop() {
		t := time.Now()
		res := rc.call(b, body)
		lat = append(lat, time.Since(t))
		if !bytes.Contains(res, []byte(`"granted":true`)) {
			b.Fatalf("refused: %s", res)
		}
	}
	lat.Report(b)
}

// Sizes of the audit-trail store.
const (
	trailEvents   = 1_000_000
	trailPatients = 10_000 // 100 events each
	trailActors   = 20
	trailPerBlock = 5_000
)

// BenchmarkAuditTrail1M measures audit_trail for one patient, a page of 100
// events, on a chain holding 1,000,000 audit events of 10,000 patients (100
// each) in 200 blocks of 5,000 real signed txs from 20 clinicians, stored by
// chain/store on disk. It reports p50 and p99 of per-query timings for random
// patients: "state" calls state.Trail on the store; "rpc" posts audit_trail
// through the JSON-RPC handler over loopback; "rpc-newest" asks newest first.
//
// It runs only with MEDCHAIN_BENCH_1M=1. The first run signs and commits the
// 1,000,000 txs (every one unique, signed with its signer's registered
// ML-DSA-65 key; a few minutes on 2 cores) and keeps the store in
// $MEDCHAIN_BENCH_DIR (default $TMPDIR/medchain-bench-trail-1m-v1, about 5 GB);
// later runs reopen it. Delete that directory to rebuild.
//
//	MEDCHAIN_BENCH_1M=1 go test -run '^$' -bench AuditTrail1M -benchtime 2000x -timeout 60m ./node/rpc/
func BenchmarkAuditTrail1M(b *testing.B) {
	if os.Getenv("MEDCHAIN_BENCH_1M") != "1" {
		b.Skip("set MEDCHAIN_BENCH_1M=1 to build (once) and query a 1,000,000-event chain")
	}
	st, g := trailStore(b)
	rng := rand.New(rand.NewPCG(7, 7))
	patient := func() string { return fmt.Sprintf("patient-%05d", rng.IntN(trailPatients)) }

	b.Run("state", func(b *testing.B) {
		lat := make(chaintest.Latencies, 0, b.N)
		for b.Loop() {
			q := state.TrailQuery{ID: patient(), Limit: 100}
			t := time.Now()
			page, err := state.Trail(st, st, q)
			lat = append(lat, time.Since(t))
			if err != nil || len(page.Entries) != 100 {
				b.Fatalf("%s: %v, %d entries", q.ID, err, len(page.Entries))
			}
		}
		lat.Report(b)
	})
	srv, err := NewServer(&readLedger{st: st, g: g}, ServerConfig{MaxBodyBytes: 1 << 20, BatchLimit: 100, BatchResponseBytes: 25 << 20, MaxTxBytes: 64 << 10, WaitTimeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	rc := newCaller(hs.URL)
	for _, newest := range []bool{false, true} {
		name := "rpc"
		if newest {
			name = "rpc-newest"
		}
		b.Run(name, func(b *testing.B) {
			lat := make(chaintest.Latencies, 0, b.N)
			for b.Loop() {
				body := request("audit_trail", TrailParams{Patient: patient(), Limit: 100, Newest: newest})
				t := time.Now()
				res := rc.call(b, body)
				lat = append(lat, time.Since(t))
				if n := bytes.Count(res, []byte(`"tx_hash"`)); n != 100 {
					b.Fatalf("%d entries", n)
				}
			}
			lat.Report(b)
		})
	}
}

// trailStore opens the cached 1M-event store, building it first if needed.
func trailStore(b *testing.B) (*store.Store, *state.Genesis) {
	dir := os.Getenv("MEDCHAIN_BENCH_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "medchain-bench-trail-1m-v1")
	}
	done := filepath.Join(dir, "COMPLETE")
	if _, err := os.Stat(done); err != nil {
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		buildTrailStore(b, filepath.Join(dir, "chain"))
		if err := os.WriteFile(done, []byte(strconv.Itoa(trailEvents)+"\n"), 0o644); err != nil {
			b.Fatal(err)
		}
		b.Logf("built %d signed audit events in %s: %s", trailEvents, dir, time.Since(start).Round(time.Second))
	}
	st, err := store.Open(filepath.Join(dir, "chain"), store.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	graw, err := st.Genesis()
	if err != nil {
		b.Fatal(err)
	}
	g, err := state.DecodeGenesis(graw)
	if err != nil {
		b.Fatal(err)
	}
	if h, _ := st.Head(); h.LogSize != trailEvents {
		b.Fatalf("cached store holds %d txs, want %d: delete %s", h.LogSize, trailEvents, dir)
	}
	return st, g
}

// buildTrailStore signs trailEvents audit txs on every core (each with its
// signer's registered key, a distinct nonce, patient and resource) while the
// blocks before are executed, assembled, signed and committed as a node
// would, without Raft.
func buildTrailStore(b *testing.B, dir string) {
	nodeKey := chaintest.Key(2)
	g := &state.Genesis{ChainID: chaintest.ChainID, Time: chaintest.Start.UnixMilli(), Params: state.DefaultParams(), Identities: []types.IdentityRegister{
		{ID: "admin", Kind: types.KindPerson, Roles: []string{types.RoleAdmin}, PublicKey: chaintest.Key(1).Public()},
		{ID: "node-1", Kind: types.KindNode, Roles: []string{types.RoleNode}, PublicKey: nodeKey.Public()},
	}}
	keys := make([]*crypto.PrivateKey, trailActors)
	for i := range keys {
		keys[i] = chaintest.Key(uint64(1000 + i))
		g.Identities = append(g.Identities, types.IdentityRegister{ID: fmt.Sprintf("dr-%02d", i), Kind: types.KindPerson,
			Roles: []string{types.RoleClinician}, PublicKey: keys[i].Public()})
	}
	ex, err := state.NewExecutor(g)
	if err != nil {
		b.Fatal(err)
	}
	opts := store.DefaultOptions()
	opts.Sync = false // one Flush at the end; durability is not what is measured
	st, err := store.Open(dir, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ws, _ := ex.GenesisState()
	if err := st.SetGenesis(g.Encode(), ws); err != nil {
		b.Fatal(err)
	}

	type signed struct {
		txs []*types.Tx
		now int64
		err error
	}
	blocks := make(chan signed, 2)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(blocks)
		workers := runtime.GOMAXPROCS(0)
		for k := 0; k < trailEvents/trailPerBlock; k++ {
			now := g.Time + int64(k+1)*1000
			txs := make([]*types.Tx, trailPerBlock)
			var wg sync.WaitGroup
			errs := make([]error, workers)
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := w; j < trailPerBlock; j += workers {
						i := k*trailPerBlock + j
						a := i % trailActors
						rec := &types.AuditRecord{EventType: "data_access", Patient: fmt.Sprintf("patient-%05d", i%trailPatients),
							Actor: fmt.Sprintf("dr-%02d", a), Action: "view_record", Purpose: "treatment", Outcome: "success",
							Resource: fmt.Sprintf("Observation/%d", i)}
						tx, err := types.NewTx(g.ChainID, rec.Actor, rec, time.UnixMilli(now), uint64(i))
						if err == nil {
							err = tx.Sign(keys[a])
						}
						if err != nil {
							errs[w] = err
							return
						}
						txs[j] = tx
					}
				}()
			}
			wg.Wait()
			select {
			case blocks <- signed{txs: txs, now: now, err: errors.Join(errs...)}:
			case <-stop:
				return
			}
		}
	}()
	var prev *types.Header
	for s := range blocks {
		if s.err != nil {
			b.Fatal(s.err)
		}
		blk, out, err := ex.AssembleBlock(st, st, prev, s.now, s.txs, "node-1", nodeKey)
		if err != nil {
			b.Fatal(err)
		}
		for i, r := range blk.Results {
			if !r.OK() {
				b.Fatalf("height %d tx %d: %s %s", blk.Header.Height, i, r.Code, r.Reason)
			}
		}
		if err := st.Commit(store.Commit{Block: blk, Writes: out.Writes, AppliedIndex: blk.Header.Height}); err != nil {
			b.Fatal(err)
		}
		prev = &blk.Header
	}
	if err := st.Flush(); err != nil {
		b.Fatal(err)
	}
}

// readLedger serves reads from a store; writes are refused.
type readLedger struct {
	st *store.Store
	g  *state.Genesis
}

var errReadOnly = errors.New("read-only benchmark ledger")

func (l *readLedger) Submit(context.Context, *types.Tx) (types.Hash, error) {
	return types.Hash{}, errReadOnly
}
func (l *readLedger) SubmitAndWait(context.Context, *types.Tx) (Receipt, error) {
	return Receipt{}, errReadOnly
}
func (l *readLedger) Wait(context.Context, types.Hash) (Receipt, error) {
	return Receipt{}, errReadOnly
}
func (l *readLedger) Pending(types.Hash) bool { return false }
func (l *readLedger) Reader() Reader          { return l.st }
func (l *readLedger) Genesis() *state.Genesis { return l.g }
func (l *readLedger) Status() NodeStatus {
	return NodeStatus{ChainID: l.g.ChainID, Ready: true, Height: l.st.Height()}
}
func (l *readLedger) Verify(ctx context.Context, o verify.Options, p func(uint64, uint64)) (*verify.Report, error) {
	return verify.Verify(ctx, l.st, o, p)
}
