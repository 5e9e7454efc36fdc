package main

// Black-box end-to-end tests of the real binary: TestMain builds medchain
// once, and each test runs it as subprocesses (init, start, tx, query,
// verify, proof, bench) against a node of its own on free 127.0.0.1 ports.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/medchain/medchain/chain/crypto"
	"github.com/medchain/medchain/chain/store"
	"github.com/medchain/medchain/chain/types"
	"github.com/medchain/medchain/node/client"
)

// e2eBin is the medchain binary TestMain built, or "" if the build failed
// (e2eBuildErr says why).
var (
	e2eBin      string
	e2eBuildErr error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "medchain-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		os.Exit(2)
	}
	bin := filepath.Join(dir, "medchain")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		e2eBuildErr = fmt.Errorf("go build -o %s .: %v\n%s", bin, err, out)
	} else {
		e2eBin = bin
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// medchainBin returns the built medchain, failing the test if it did not build.
func medchainBin(t *testing.T) string {
	t.Helper()
	if e2eBuildErr != nil {
		t.Fatalf("building the medchain binary failed: %v", e2eBuildErr)
	}
	return e2eBin
}

// cleanEnv is this process's environment without the variables that would
// steer the CLI or the node (MEDCHAIN_*, BLOCKCHAIN_*), plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "MEDCHAIN_") || strings.HasPrefix(kv, "BLOCKCHAIN_") || strings.HasPrefix(kv, "ZEROTRUST_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pick a free port: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// cliResult is the outcome of one CLI run.
type cliResult struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r cliResult) String() string {
	return fmt.Sprintf("medchain %s\n  exit %d\n  stdout: %s\n  stderr: %s", strings.Join(r.args, " "), r.code,
		strings.TrimSpace(r.stdout), strings.TrimSpace(r.stderr))
}

// cli runs the binary with args (and env) to completion, at most 60 s.
func cli(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, medchainBin(t), args...)
	cmd.Env = cleanEnv(env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := cliResult{args: args, stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("run medchain %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("medchain %s did not finish in 60 s", strings.Join(args, " "))
	}
	return r
}

// mustCLI runs the binary and fails the test unless it exits 0.
func mustCLI(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	r := cli(t, env, args...)
	if r.code != 0 {
		t.Fatalf("want exit 0:\n%s", r)
	}
	return r
}

// initChain creates a dev chain in a fresh data dir and returns the dir.
func initChain(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	r := mustCLI(t, nil, "init", "--dev", "--data-dir", dir)
	if !strings.Contains(r.stdout, "Initialized chain") {
		t.Fatalf("init printed no \"Initialized chain\":\n%s", r)
	}
	return dir
}

// nodeProc is one medchain start subprocess.
type nodeProc struct {
	t       *testing.T
	dataDir string
	rpcURL  string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done closes
}

// startNode starts medchain start on dataDir with fresh ports and waits
// until node_status answers ready. Cleanup kills it by PID.
func startNode(t *testing.T, dataDir string) *nodeProc {
	t.Helper()
	return startNodeEnv(t, dataDir)
}

// startNodeEnv is startNode with extra environment for the node.
func startNodeEnv(t *testing.T, dataDir string, env ...string) *nodeProc {
	t.Helper()
	rpcAddr, raftAddr := freeAddr(t), freeAddr(t)
	logf, err := os.CreateTemp(t.TempDir(), "node-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(medchainBin(t), "start", "--data-dir", dataDir)
	cmd.Env = cleanEnv(append([]string{"MEDCHAIN_RPC_LISTEN=" + rpcAddr, "MEDCHAIN_CONSENSUS_RAFT_LISTEN=" + raftAddr}, env...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start node: %v", err)
	}
	n := &nodeProc{t: t, dataDir: dataDir, rpcURL: "https://" + rpcAddr, logPath: logf.Name(), cmd: cmd, done: make(chan struct{})}
	go func() {
		n.waitErr = cmd.Wait()
		logf.Close()
		close(n.done)
	}()
	t.Cleanup(func() {
		if !n.exited() {
			_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			<-n.done
		}
	})
	n.waitReady(20 * time.Second)
	return n
}

func (n *nodeProc) exited() bool {
	select {
	case <-n.done:
		return true
	default:
		return false
	}
}

// log returns the node's output so far (its last 4 KiB).
func (n *nodeProc) log() string {
	b, _ := os.ReadFile(n.logPath)
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// waitReady polls /readyz (it needs no session: polling node_status without
// one would put an access_denied event on chain for every poll) until the
// node is ready.
func (n *nodeProc) waitReady(limit time.Duration) {
	t := n.t
	t.Helper()
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		if n.exited() {
			t.Fatalf("node exited before it was ready (%v); its log:\n%s", n.waitErr, n.log())
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		last = n.readyz(ctx)
		cancel()
		if last == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("node at %s not ready after %v: %v; its log:\n%s", n.rpcURL, limit, last, n.log())
}

func (n *nodeProc) readyz(ctx context.Context) error {
	hc, err := client.HTTPClient(client.WithCAFile(filepath.Join(n.dataDir, "tls", "ca.crt")))
	if err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.rpcURL+"/readyz", nil)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/readyz: %s", resp.Status)
	}
	return nil
}

// kill9 sends SIGKILL to the node's PID and waits for it to die.
func (n *nodeProc) kill9() {
	n.t.Helper()
	if err := syscall.Kill(n.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		n.t.Fatalf("kill -9 %d: %v", n.cmd.Process.Pid, err)
	}
	select {
	case <-n.done:
	case <-time.After(10 * time.Second):
		n.t.Fatalf("node %d still running 10 s after SIGKILL", n.cmd.Process.Pid)
	}
}

// stop sends SIGINT (Ctrl-C) and waits for a clean exit.
func (n *nodeProc) stop() {
	n.t.Helper()
	if err := syscall.Kill(n.cmd.Process.Pid, syscall.SIGINT); err != nil {
		n.t.Fatalf("kill -INT %d: %v", n.cmd.Process.Pid, err)
	}
	select {
	case <-n.done:
	case <-time.After(15 * time.Second):
		n.t.Fatalf("node %d still running 15 s after SIGINT; its log:\n%s", n.cmd.Process.Pid, n.log())
	}
	if n.waitErr != nil {
		n.t.Errorf("node exited with %v after SIGINT, want a clean exit 0; its log:\n%s", n.waitErr, n.log())
	}
}

// dial returns a client of the node with a session of doctor456 (the
// clinician that signs the tests' audit events; public segment, no MFA).
func (n *nodeProc) dial(ctx context.Context) *client.Client {
	n.t.Helper()
	k, err := crypto.LoadKey(filepath.Join(n.dataDir, "keys", "doctor456.key"))
	if err != nil {
		n.t.Fatal(err)
	}
	c, err := client.Dial(ctx, n.rpcURL, client.WithCAFile(filepath.Join(n.dataDir, "tls", "ca.crt")),
		client.WithLogin(client.Login{Identity: "doctor456", Key: k}))
	if err != nil {
		n.t.Fatalf("dial %s: %v", n.rpcURL, err)
	}
	n.t.Cleanup(c.Close)
	return c
}

func (n *nodeProc) signer(c *client.Client, id string) *client.Signer {
	n.t.Helper()
	k, err := crypto.LoadKey(filepath.Join(n.dataDir, "keys", id+".key"))
	if err != nil {
		n.t.Fatalf("key of %s: %v", id, err)
	}
	return c.Signer(id, k)
}

func auditPayload(i int) *types.AuditRecord {
	return &types.AuditRecord{EventType: "data_access", Patient: "patient123", Actor: "doctor456", Action: "view_record",
		Purpose: "treatment", Outcome: "success", Resource: fmt.Sprintf("Observation/e2e-%d", i)}
}

// TestKill9DuringLoadLosesNoAcknowledgedTx proves DESIGN invariant 2 on the
// real binary: a node SIGKILLed in the middle of a load, then restarted on
// the same data dir, still has every tx whose submit returned a committed
// receipt, exactly once, and its chain verifies.
// loadLimits raise the gate's rate limits for a test that loads a node with
// one identity (the defaults, 100 calls a minute, would be the bottleneck),
// and let a client log in again after a restart while the session of the
// killed run's client is still live.
var loadLimits = []string{"MEDCHAIN_ZEROTRUST_USER_PER_MINUTE=1000000", "MEDCHAIN_ZEROTRUST_ADMIN_PER_MINUTE=1000000",
	"MEDCHAIN_ZEROTRUST_BURST=100000", "MEDCHAIN_ZEROTRUST_MAX_SESSIONS_PER_IDENTITY=8"}

func TestKill9DuringLoadLosesNoAcknowledgedTx(t *testing.T) {
	dir := initChain(t)
	n := startNodeEnv(t, dir, loadLimits...)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	c := n.dial(ctx)
	s := n.signer(c, "doctor456")

	type ack struct {
		hash   types.Hash
		height uint64
	}
	var (
		mu        sync.Mutex
		acked     []ack
		submitted = map[types.Hash]bool{} // every tx sent, acknowledged or not
		rejected  []string
		nAcked    atomic.Int64
		nErrs     atomic.Int64
		seq       atomic.Int64
		stopLoad  atomic.Bool
	)
	loadCtx, stopCtx := context.WithCancel(ctx)
	defer stopCtx()
	const workers = 4
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopLoad.Load() {
				tx, err := s.Build(auditPayload(int(seq.Add(1))))
				if err != nil {
					t.Errorf("build tx: %v", err)
					return
				}
				h := tx.Hash()
				mu.Lock()
				submitted[h] = true
				mu.Unlock()
				cctx, ccancel := context.WithTimeout(loadCtx, 5*time.Second)
				r, err := c.Submit(cctx, tx, true)
				ccancel()
				if err != nil {
					nErrs.Add(1)
					if stopLoad.Load() || loadCtx.Err() != nil {
						return
					}
					time.Sleep(10 * time.Millisecond) // the node is going away; do not spin
					continue
				}
				if r.Status != "committed" || r.Receipt == nil {
					continue // not acknowledged as committed
				}
				mu.Lock()
				if !r.Receipt.Result.OK() {
					rejected = append(rejected, fmt.Sprintf("%s: %s %s", h, r.Receipt.Result.Code, r.Receipt.Result.Reason))
				} else {
					acked = append(acked, ack{h, r.Receipt.Height})
				}
				mu.Unlock()
				nAcked.Add(1)
			}
		}()
	}

	loadStart := time.Now()
	for time.Since(loadStart) < 1500*time.Millisecond || nAcked.Load() < 300 {
		if time.Since(loadStart) > 12*time.Second {
			break
		}
		if n.exited() {
			t.Fatalf("node died during the load: %v\n%s", n.waitErr, n.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	ackedAtKill := nAcked.Load()
	n.kill9()
	killedAt := time.Since(loadStart)
	stopLoad.Store(true)
	stopCtx()
	wg.Wait()
	if ackedAtKill < 100 {
		t.Fatalf("only %d txs acknowledged in %v before the kill: the load is too slow to prove anything", ackedAtKill, killedAt)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(rejected) > 0 {
		t.Errorf("%d txs of the load were recorded as rejected, want none; first: %s", len(rejected), rejected[0])
	}
	t.Logf("load: %d txs acknowledged (%d at the kill), %d sent, %d submit errors; SIGKILL after %v",
		len(acked), ackedAtKill, len(submitted), nErrs.Load(), killedAt.Round(time.Millisecond))

	restartAt := time.Now()
	n2 := startNodeEnv(t, dir, loadLimits...)
	t.Logf("restart to ready: %v", time.Since(restartAt).Round(time.Millisecond))
	c2 := n2.dial(ctx)

	// Every acknowledged tx: tx_get says committed with an ok result, where the receipt said.
	for _, a := range acked {
		r, err := c2.Tx(ctx, a.hash)
		if err != nil {
			t.Errorf("tx_get %s: %v", a.hash, err)
			continue
		}
		switch {
		case r.Status != "committed":
			t.Errorf("acknowledged tx %s (receipt height %d) is %q after the restart: LOST", a.hash, a.height, r.Status)
		case r.Result == nil || !r.Result.OK():
			t.Errorf("acknowledged tx %s: result %+v, want ok", a.hash, r.Result)
		case r.Height == nil || *r.Height != a.height:
			t.Errorf("acknowledged tx %s: tx_get says height %v, its receipt said %d", a.hash, r.Height, a.height)
		}
	}

	// Scan every block: each acknowledged hash is applied (ok) exactly once,
	// and no tx hash at all is applied twice.
	head, err := c2.Head(ctx)
	if err != nil {
		t.Fatalf("chain_head: %v", err)
	}
	if head.Header == nil {
		t.Fatalf("no blocks after the restart")
	}
	applied := map[types.Hash]int{}
	total := 0
	for h := uint64(1); h <= head.Header.Height; h++ {
		b, err := c2.Block(ctx, h, true)
		if err != nil {
			t.Fatalf("chain_block %d: %v", h, err)
		}
		if len(b.Txs) != len(b.Results) {
			t.Fatalf("block %d: %d txs, %d results", h, len(b.Txs), len(b.Results))
		}
		for i, tx := range b.Txs {
			total++

			if b.Results[i].OK() {
				applied[tx.Hash]++
			}
		}
	}
	for _, a := range acked {
		if k := applied[a.hash]; k != 1 {
			t.Errorf("acknowledged tx %s is applied %d times in blocks 1..%d, want exactly 1", a.hash, k, head.Header.Height)
		}
	}
	for h, k := range applied {
		if k > 1 {
			t.Errorf("tx %s is applied %d times (a replay)", h, k)
		}
		if !submitted[h] {
			t.Errorf("block holds tx %s, which the load never sent", h)
		}
	}
	t.Logf("after restart: height %d, %d txs in blocks, %d applied (%d acknowledged, %d in flight at the kill that committed anyway)",
		head.Header.Height, total, len(applied), len(acked), len(applied)-len(acked))

	// The restarted node verifies its chain (over RPC) and takes a new tx.
	// chain_verify is internal: the CLI logs in as the dev admin, enrolled
	// here with its dev secret saved.
	mustCLI(t, nil, "mfa", "enroll", "--as", "admin", "--save-secret", "--rpc", n2.rpcURL, "--data-dir", n2.dataDir)
	v := cli(t, nil, "verify", "--rpc", n2.rpcURL, "--data-dir", n2.dataDir)
	if v.code != 0 || !strings.Contains(v.stdout, "Chain verification OK") {
		t.Errorf("medchain verify after the restart, want exit 0 and \"Chain verification OK\":\n%s", v)
	}
	rc, err := n2.signer(c2, "doctor456").Send(ctx, auditPayload(-1))
	if err != nil {
		t.Fatalf("the restarted node refuses a new tx: %v", err)
	}
	if rc.Height <= head.Header.Height {
		t.Errorf("new tx committed at height %d, want above the head %d", rc.Height, head.Header.Height)
	}
}

var committedAt = regexp.MustCompile(`(?m)^audit_record tx ([0-9a-f]{64})\n\s+status\s+committed at height (\d+), index (\d+)\n\s+result\s+ok`)

// faultLine is one "FAULT at height H: ..." line of a verify report.
var faultLine = regexp.MustCompile(`(?m)^\s*FAULT at (height (\d+)|state): (.*)$`)

// TestVerifyNamesTamperedHeightAndFault proves DESIGN invariant 6 on the
// real binary: medchain verify --offline detects one flipped byte in a
// stored block, a tx index entry and an audit trail state value, exits
// non-zero, and names the height and the fault; with the byte restored the
// chain verifies again.
func TestVerifyNamesTamperedHeightAndFault(t *testing.T) {
	dir := initChain(t)
	n := startNode(t, dir)
	type committed struct {
		hash   types.Hash
		height uint64
	}
	var txs []committed
	for i := 0; i < 4; i++ {
		r := mustCLI(t, nil, "tx", "audit", "--rpc", n.rpcURL, "--data-dir", dir, "--as", "doctor456", "--patient", "patient123",
			"--action", "view_record", "--purpose", "treatment", "--resource", fmt.Sprintf("Observation/tamper-%d", i),
			"--detail", "ip_address=10.0.0."+strconv.Itoa(i))
		m := committedAt.FindStringSubmatch(r.stdout)
		if m == nil {
			t.Fatalf("tx audit output does not name the tx, \"committed at height N\" and result ok:\n%s", r)
		}
		h, err := types.ParseHash(m[1])
		if err != nil {
			t.Fatal(err)
		}
		height, _ := strconv.ParseUint(m[2], 10, 64)
		if len(txs) > 0 && height <= txs[len(txs)-1].height {
			t.Fatalf("tx audit committed at height %d, after a tx at height %d: each waited tx should be in a later block", height, txs[len(txs)-1].height)
		}
		txs = append(txs, committed{h, height})
	}
	n.stop()

	// Untouched, the stopped node's chain verifies offline.
	if r := cli(t, nil, "verify", "--offline", "--data-dir", dir); r.code != 0 || !strings.Contains(r.stdout, "Chain verification OK") {
		t.Fatalf("untampered chain, want exit 0 and \"Chain verification OK\":\n%s", r)
	}

	// tamper opens the store, flips one byte of the value under the key
	// pick returns, closes it, runs verify --offline, restores the byte and
	// checks the chain verifies again. The report must have a fault at
	// wantHeight naming one of faultWords, and no fault at another height
	// unless cascade accepts it as a consequence of this one.
	tamper := func(t *testing.T, wantHeight uint64, cascade func(h uint64, what string) bool, faultWords []string, pick func(s *store.Store) (key []byte, at int)) {
		t.Helper()
		st, err := store.Open(filepath.Join(dir, "chain"), store.DefaultOptions())
		if err != nil {
			t.Fatalf("open the store: %v", err)
		}
		key, at := pick(st)
		orig, err := rawGet(st, key)
		if err != nil {
			st.Close()
			t.Fatal(err)
		}
		bad := bytes.Clone(orig)
		bad[at] ^= 0x01
		if err := st.RawSetUnsafe(key, bad); err != nil {
			st.Close()
			t.Fatalf("tamper: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Fatalf("close the store: %v", err)
		}
		defer func() {
			st, err := store.Open(filepath.Join(dir, "chain"), store.DefaultOptions())
			if err != nil {
				t.Fatalf("reopen the store to restore: %v", err)
			}
			if err := st.RawSetUnsafe(key, orig); err != nil {
				t.Errorf("restore: %v", err)
			}
			if err := st.Close(); err != nil {
				t.Errorf("close the store: %v", err)
			}
			if r := cli(t, nil, "verify", "--offline", "--data-dir", dir); r.code != 0 || !strings.Contains(r.stdout, "Chain verification OK") {
				t.Errorf("restored chain, want exit 0 and \"Chain verification OK\":\n%s", r)
			}
		}()

		r := cli(t, nil, "verify", "--offline", "--data-dir", dir)
		t.Logf("flipped byte %d of %d under %q; verify says:\n%s", at, len(orig), key[:1], strings.TrimSpace(r.stdout))
		if r.code == 0 {
			t.Errorf("verify --offline of a tampered chain exits 0, want non-zero:\n%s", r)
		}
		if !strings.Contains(r.stdout, "Chain verification FAILED") {
			t.Errorf("verify --offline of a tampered chain does not say \"Chain verification FAILED\":\n%s", r)
		}
		if !strings.Contains(r.stderr, "failed verification") {
			t.Errorf("verify --offline: stderr does not explain the exit code:\n%s", r)
		}
		faults := faultLine.FindAllStringSubmatch(r.stdout, -1)
		if len(faults) == 0 {
			t.Fatalf("no FAULT lines in the report:\n%s", r)
		}
		named := false
		for _, f := range faults {
			if f[2] == "" {
				t.Errorf("fault not located at a height (want height %d): %s", wantHeight, f[0])
				continue
			}
			h, _ := strconv.ParseUint(f[2], 10, 64)
			if h < wantHeight || (h > wantHeight && (cascade == nil || !cascade(h, f[3]))) {
				t.Errorf("fault at height %d, but only height %d was tampered: %s", h, wantHeight, strings.TrimSpace(f[0]))
				continue
			}
			for _, w := range faultWords {
				if strings.Contains(f[3], w) {
					named = true
				}
			}
		}
		if !named {
			t.Errorf("no fault at height %d names the fault (one of %q):\n%s", wantHeight, faultWords, r.stdout)
		}
	}

	// Three places in a stored block: the header signature (byte 1,000
	// of a block), a tx's payload (its action string), and a
	// header field (the chain id, the first string in the block). A changed
	// header also changes the block hash, so block H+1 no longer links.
	blockAt := func(t *testing.T, s *store.Store, H uint64, find func(raw []byte) int) ([]byte, int) {
		raw, err := s.RawBlock(H)
		if err != nil {
			t.Fatalf("RawBlock(%d): %v", H, err)
		}
		at := find(raw)
		if at < 0 {
			t.Fatalf("byte to flip not found in the %d-byte block at height %d", len(raw), H)
		}
		return store.BlockKey(H), at
	}
	t.Run("block_header_signature", func(t *testing.T) {
		H := txs[1].height
		tamper(t, H, nil, []string{"header signature"}, func(s *store.Store) ([]byte, int) {
			// The header (~300 bytes) comes first, then the 3,309-byte
			// signature: byte 1,000 is inside it whatever follows.
			return blockAt(t, s, H, func(raw []byte) int { return 1000 })
		})
	})
	t.Run("block_tx_payload", func(t *testing.T) {
		H := txs[1].height
		// The verifier rebuilds the log from the txs it reads, so the changed
		// tx hash also makes the rebuilt log of every later block differ.
		logAfter := func(h uint64, what string) bool { return strings.HasPrefix(what, "log ") }
		tamper(t, H, logAfter, []string{"tx root", "signature", "index", "re-execut"}, func(s *store.Store) ([]byte, int) {
			// The resource is sealed (pseudonymized block); the action is in clear.
			return blockAt(t, s, H, func(raw []byte) int { return lastByteOf(raw, "view_record") })
		})
	})
	t.Run("block_header_chain_id", func(t *testing.T) {
		H := txs[0].height
		nextLinks := func(h uint64, what string) bool { return h == H+1 && strings.HasPrefix(what, "prev hash") }
		tamper(t, H, nextLinks, []string{"chain id"}, func(s *store.Store) ([]byte, int) {
			return blockAt(t, s, H, func(raw []byte) int { return lastByteOf(raw, "medchain-dev") })
		})
	})
	t.Run("tx_index", func(t *testing.T) {
		H := txs[2].height
		// Byte 7 is the low byte of the height the entry points at.
		tamper(t, H, nil, []string{"index"}, func(s *store.Store) ([]byte, int) { return store.TxKey(txs[2].hash), 7 })
	})
	t.Run("audit_trail_state", func(t *testing.T) {
		H := txs[3].height
		tamper(t, H, nil, []string{"differs from re-execution"}, func(s *store.Store) ([]byte, int) {
			// A patient trail key is 'p' patient 0 time u64 height u64 index u32.
			var key []byte
			var n int
			err := s.ScanRaw(store.StateKey([]byte{'p'}), func(k, v []byte) bool {
				if len(k) > 13 && binary.BigEndian.Uint64(k[len(k)-12:len(k)-4]) == H {
					key, n = bytes.Clone(k), len(v)
					return false
				}
				return true
			})
			if err != nil || key == nil {
				t.Fatalf("no audit trail key written at height %d (%v)", H, err)
			}
			return key, n / 2
		})
	})
}

// lastByteOf returns the offset of the last byte of the first needle in b, or -1.
func lastByteOf(b []byte, needle string) int {
	i := bytes.Index(b, []byte(needle))
	if i < 0 {
		return -1
	}
	return i + len(needle) - 1
}

// rawGet returns the value stored under the raw key (any keyspace).
func rawGet(s *store.Store, key []byte) ([]byte, error) {
	var v []byte
	err := s.ScanRaw(key, func(k, val []byte) bool {
		if bytes.Equal(k, key) {
			v = bytes.Clone(val)
		}
		return false
	})
	if err == nil && v == nil {
		err = fmt.Errorf("no value stored under %x", key)
	}
	return v, err
}

// quickStartStep is one command of the README quick start and what it must do.
type quickStartStep struct {
	cmd  string   // verbatim from README.md (continuation lines joined)
	run  string   // what runs instead, if not cmd
	want []string // in stdout
}

// quickStart is README.md's quick start, in order. The test checks that
// README.md still says exactly this.
var quickStart = []quickStartStep{
	{cmd: `export PATH=$PWD/bin:$PATH`},
	{cmd: `medchain mfa enroll --as admin --save-secret`, want: []string{"otpauth://totp/", "admin.secret"}},
	{cmd: `medchain login --as admin --totp $(medchain mfa code --as admin) --segment clinical`,
		want: []string{"logged in as admin", "segment clinical", "mfa true"}},
	{cmd: `medchain tx audit --as doctor456 --patient patient123 --action view_record --purpose treatment --resource Observation/bp-1 --detail ip_address=192.168.1.1`,
		want: []string{"audit_record tx ", "committed at height", "result   ok"}},
	{cmd: `medchain tx consent grant --as patient123 --patient patient123 --type data_sharing --purpose treatment,research --party doctor456,researcher789 --expires 8760h`,
		want: []string{"consent_grant tx ", "committed at height", "result   ok"}},
	{cmd: `medchain query consent --patient patient123 --purpose treatment --requester doctor456`, want: []string{"GRANTED"}},
	{cmd: `medchain query consent --patient patient123 --purpose marketing --requester doctor456`, want: []string{"REFUSED"}},
	{cmd: `medchain query consent --patient patient123 --purpose treatment --requester stranger`, want: []string{"REFUSED"}},
	{cmd: `medchain query trail --patient patient123`, want: []string{"Audit trail of patient patient123: 1 events", "Observation/bp-1"}},
	{cmd: `medchain verify`, want: []string{"Chain verification OK"}},
	{cmd: `medchain proof $(medchain query trail --patient patient123 --json | sed -n 's/.*"tx_hash": "\([0-9a-f]*\)".*/\1/p' | head -1)`,
		want: []string{"Inclusion proof VERIFIED"}},
	{cmd: `medchain proof --from 1            # the log at head extends the log at height 1`, want: []string{"Consistency proof VERIFIED"}},
	{cmd: `medchain tx consent revoke --as patient123 --patient patient123 --type data_sharing --reason "moved"`,
		want: []string{"consent_revoke tx ", "committed at height", "result   ok"}},
	{cmd: `medchain query consent --patient patient123 --purpose treatment --requester doctor456`, want: []string{"REFUSED"}},
	{cmd: `medchain tx ehr register --system-id epic_system --vendor epic --endpoint https://ehr.example.com/api --service epic_system`,
		want: []string{"ehr_register tx ", "committed at height", "result   ok"}},
	{cmd: `medchain bench -n 20000`, run: `medchain bench -n 200`, want: []string{"committed   200 in"}},
	{cmd: `medchain logout`, want: []string{"logged out admin"}},
}

// readmeQuickStart returns the commands of the first ```sh block after
// "## Quick start" in README.md, continuation lines joined, comments and
// blank lines dropped.
func readmeQuickStart(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	defer f.Close()
	var cmds []string
	section, block := false, false
	pending := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case !section:
			section = strings.HasPrefix(line, "## Quick start")
			continue
		case !block:
			block = strings.TrimSpace(line) == "```sh"
			continue
		case strings.TrimSpace(line) == "```":
			return cmds
		}
		if pending != "" {
			line = pending + " " + strings.TrimSpace(line)
			pending = ""
		}
		if strings.HasSuffix(line, `\`) {
			pending = strings.TrimSpace(strings.TrimSuffix(line, `\`))
			continue
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cmds = append(cmds, line)
	}
	t.Fatalf("README.md has no ```sh block after \"## Quick start\"")
	return nil
}

// TestQuickStartAsWritten runs the README quick start, command by command,
// as a user would in a shell, against a dev chain in .medchain of a fresh
// directory whose bin/medchain is the built binary, with the zero-trust
// gate on (the default): MFA enrolment, login (challenge, ML-DSA signature,
// TOTP), clinical reads, logout.
func TestQuickStartAsWritten(t *testing.T) {
	readme := readmeQuickStart(t)
	var want []string
	for _, s := range quickStart {
		want = append(want, s.cmd)
	}
	if strings.Join(readme, "\n") != strings.Join(want, "\n") {
		t.Fatalf("README.md's quick start changed; update quickStart in this test.\nREADME:\n  %s\ntest:\n  %s",
			strings.Join(readme, "\n  "), strings.Join(want, "\n  "))
	}
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh to run the quick start in")
	}

	// make run: bin/medchain, then init --dev --if-missing and start in .medchain.
	work := t.TempDir()
	if err := os.Mkdir(filepath.Join(work, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(medchainBin(t), filepath.Join(work, "bin", "medchain")); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(work, ".medchain")
	for i := 0; i < 2; i++ { // the second make run reuses the chain
		r := mustCLI(t, nil, "init", "--dev", "--if-missing", "--data-dir", dataDir)
		if i == 1 && !strings.Contains(r.stdout, "Using the existing chain") {
			t.Errorf("init --if-missing on an existing chain:\n%s", r)
		}
	}
	n := startNode(t, dataDir)

	var prefix []string // export lines run before every later command
	for i, s := range quickStart {
		if strings.HasPrefix(s.cmd, "export ") {
			prefix = append(prefix, s.cmd)
			continue
		}
		run := s.cmd
		if s.run != "" {
			run = s.run
		}
		script := strings.Join(append(append([]string(nil), prefix...), run), "\n")
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := exec.CommandContext(ctx, "sh", "-c", script)
		cmd.Dir = work
		cmd.Env = cleanEnv("PWD="+work, "MEDCHAIN_RPC="+n.rpcURL)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		start := time.Now()
		err := cmd.Run()
		cancel()
		took := time.Since(start)
		if err != nil {
			t.Errorf("step %d: %s\n  exited: %v (in %v)\n  stdout: %s\n  stderr: %s", i, run, err, took, out.String(), errb.String())
			continue
		}
		for _, w := range s.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("step %d: %s\n  stdout lacks %q:\n%s\n  stderr: %s", i, run, w, out.String(), errb.String())
			}
		}
		t.Logf("step %d (%v): %s\n    %s", i, took.Round(time.Millisecond), run, strings.ReplaceAll(strings.TrimSpace(out.String()), "\n", "\n    "))
	}
}

// TestSecondStartOnSameDataDirFailsFast: a second medchain start on a data
// dir that a running node holds must exit non-zero at once, naming the
// problem, not wait (raft.db is opened with a lock timeout).
func TestSecondStartOnSameDataDirFailsFast(t *testing.T) {
	dir := initChain(t)
	startNode(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, medchainBin(t), "start", "--data-dir", dir)
	cmd.Env = cleanEnv("MEDCHAIN_RPC_LISTEN="+freeAddr(t), "MEDCHAIN_CONSENSUS_RAFT_LISTEN="+freeAddr(t))
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("a second medchain start on %s was still running after 10 s (killed); output:\n%s", dir, out)
	}
	if err == nil {
		t.Fatalf("a second medchain start on a held data dir exited 0; output:\n%s", out)
	}
	if !strings.Contains(string(out), "error:") || !strings.Contains(string(out), "another medchain node") {
		t.Errorf("a second medchain start failed (%v) without an error message:\n%s", err, out)
	}
}
