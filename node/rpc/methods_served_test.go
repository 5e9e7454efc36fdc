package rpc

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	gethrpc "github.com/ethereum/go-ethereum/rpc"

	"github.com/medchain/medchain/chain/state"
	"github.com/medchain/medchain/node/compliance"
	"github.com/medchain/medchain/node/zerotrust"
)

// fullLedger is a ledger with every optional extension that adds a
// namespace (Cluster, ComplianceReporter). The probes below never get as
// far as calling them.
type fullLedger struct{ *chainLedger }

var errNotProbed = errors.New("rpc test: not expected to be called")

func (fullLedger) ClusterStatus(context.Context) (*ClusterStatus, error) { return nil, errNotProbed }
func (fullLedger) TransferLeader(context.Context, string) error          { return errNotProbed }
func (fullLedger) Nodes() ([]state.NodeRecord, error)                    { return nil, errNotProbed }
func (fullLedger) ComplianceReport(context.Context) (*compliance.Report, error) {
	return nil, errNotProbed
}

var (
	_ Cluster            = fullLedger{}
	_ ComplianceReporter = fullLedger{}
)

// TestMethodsListEverythingServed compares Server.Methods with what the
// JSON-RPC server actually serves, on a server with every namespace (gate,
// cluster and compliance included): every namespace go-ethereum reports in
// rpc_modules has its methods listed, and every listed method exists (a
// call with too many arguments is refused as bad params, never as an
// unknown method, so nothing runs).
func TestMethodsListEverythingServed(t *testing.T) {
	h := newHarness(t)
	zc := zerotrust.TestConfig()
	zc.Methods = MethodRules()
	g, err := zerotrust.NewGate(zc, zerotrust.Options{Identities: zerotrust.NewMemIdentities()})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	s, err := NewServer(fullLedger{h.l}, ServerConfig{MaxBodyBytes: 1 << 20, BatchLimit: 100, BatchResponseBytes: 1 << 20,
		MaxTxBytes: 16 << 10, WaitTimeout: time.Second, Gate: &GateConfig{Gate: g}})
	if err != nil {
		t.Fatal(err)
	}
	c := gethrpc.DialInProc(s.rpc)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	methods := s.Methods()
	listed := map[string]bool{}
	for _, m := range methods {
		ns, _, _ := strings.Cut(m, "_")
		listed[ns] = true
	}
	var modules map[string]string
	if err := c.CallContext(ctx, &modules, "rpc_modules"); err != nil {
		t.Fatal(err)
	}
	for ns := range modules {
		if ns != "rpc" && !listed[ns] { // rpc_: go-ethereum's built-ins (builtinMethods)
			t.Errorf("namespace %s_ is served but Methods lists none of its methods", ns)
		}
	}
	for _, ns := range []string{"compliance", "cluster", "auth", "session"} {
		if _, ok := modules[ns]; !ok {
			t.Errorf("namespace %s_ is not served by this fixture", ns)
		}
	}
	args := []any{1, 2, 3, 4, 5, 6, 7, 8, 9}
	for _, m := range methods {
		err := c.CallContext(ctx, nil, m, args...)
		var re gethrpc.Error
		if !errors.As(err, &re) || re.ErrorCode() != CodeInvalidParams {
			t.Errorf("%s: %v, want the server to know it (bad params %d)", m, err, CodeInvalidParams)
		}
	}
	if !slices.IsSorted(methods) {
		t.Error("Methods is not sorted")
	}
	// The gate treats exactly these (and the built-ins) as existing.
	served := s.servedMethods()
	for _, m := range methods {
		if !served[m] {
			t.Errorf("%s is served but the gate answers it as unknown", m)
		}
	}
	if len(served) != len(methods)+len(builtinMethods) {
		t.Errorf("the gate knows %d methods, the server lists %d plus %d built-ins", len(served), len(methods), len(builtinMethods))
	}
}
