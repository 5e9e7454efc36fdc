package contracts

import (
	"container/list"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"

	"github.com/medchain/medchain/chain/codec"
	mtypes "github.com/medchain/medchain/chain/types"
)

// VM compiles and executes contracts. It is safe for concurrent use; its
// only mutable state is the cache of compiled programs, which never changes
// a result.
type VM struct {
	cfg      Config
	env      *cel.Env
	progOpts []cel.ProgramOption
	compiles atomic.Uint64

	mu sync.Mutex
	// guards the following
	lru     *list.List // of *cacheEntry, most recently used first
	entries map[mtypes.Hash]*list.Element
}

type cacheEntry struct {
	key  mtypes.Hash
	done chan struct{} // closed when prog/err are set
	prog *Program
	err  error
}

// New returns a VM running with cfg.
func New(cfg Config) (*VM, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	env, err := newEnv(cfg)
	if err != nil {
		return nil, fmt.Errorf("contracts: building CEL environment: %w", err)
	}
	return &VM{cfg: cfg, env: env, progOpts: programOptions(cfg), lru: list.New(), entries: make(map[mtypes.Hash]*list.Element)}, nil
}

// Config returns the VM's configuration.
func (vm *VM) Config() Config { return vm.cfg }

// Compiles returns how many contract versions this VM has compiled (cache
// misses). A version is compiled once while it stays in the cache.
func (vm *VM) Compiles() uint64 { return vm.compiles.Load() }

// Program is a compiled contract version. It is immutable and safe for
// concurrent use.
type Program struct {
	cfg      Config
	contract Contract
	version  mtypes.Hash
	estimate uint64
	deny     []compiledRule // in declaration order
	allow    []compiledRule
	effects  []compiledEffect
	params   ref.Val // Params as a CEL value, built once: immutable
}

type compiledRule struct {
	Rule
	prg cel.Program
}

type compiledEffect struct {
	Effect
	prg cel.Program
}

// Version returns the contract's version hash.
func (p *Program) Version() mtypes.Hash { return p.version }

// EstimatedCost returns the static worst-case cost of one execution (every
// rule and every effect evaluated), computed at compile time.
func (p *Program) EstimatedCost() uint64 { return p.estimate }

// Contract returns a copy of the compiled contract.
func (p *Program) Contract() Contract { return p.contract }

// Compile validates, type-checks and cost-estimates c, or returns the
// cached program for its version hash. It fails with ErrInvalidContract,
// ErrCompile (with the compiler's message) or ErrCostEstimate. c is not
// modified.
func (vm *VM) Compile(c *Contract) (*Program, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: nil contract", ErrInvalidContract)
	}
	cc := *c
	cc.Rules = slices.Clone(c.Rules)
	cc.Effects = slices.Clone(c.Effects)
	if err := cc.ValidateBasic(vm.cfg); err != nil {
		return nil, err
	}
	version, err := cc.Hash()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidContract, err)
	}
	vm.mu.Lock()
	if el, ok := vm.entries[version]; ok {
		vm.lru.MoveToFront(el)
		e := el.Value.(*cacheEntry)
		vm.mu.Unlock()
		<-e.done
		return e.prog, e.err
	}
	e := &cacheEntry{key: version, done: make(chan struct{})}
	vm.entries[version] = vm.lru.PushFront(e)
	for vm.lru.Len() > vm.cfg.CacheSize {
		old := vm.lru.Back()
		vm.lru.Remove(old)
		delete(vm.entries, old.Value.(*cacheEntry).key)
	}
	vm.mu.Unlock()

	vm.compiles.Add(1)
	e.prog, e.err = vm.compile(&cc, version)
	close(e.done)
	return e.prog, e.err
}

func (vm *VM) compile(c *Contract, version mtypes.Hash) (*Program, error) {
	p := &Program{cfg: vm.cfg, contract: *c, version: version}
	var total uint64
	var worst string
	var worstCost uint64
	add := func(field string, est uint64) {
		total = satAdd(total, est)
		if est > worstCost || worst == "" {
			worst, worstCost = field, est
		}
	}
	for i, r := range c.Rules {
		field := fmt.Sprintf("rule %q (rules[%d])", r.Name, i)
		prg, est, err := vm.compileExpr(field, r.Condition, true)
		if err != nil {
			return nil, err
		}
		add(field, est)
		cr := compiledRule{Rule: r, prg: prg}
		cr.Flags = sortedUnique(r.Flags)
		if r.Effect == Deny {
			p.deny = append(p.deny, cr)
		} else {
			p.allow = append(p.allow, cr)
		}
	}
	for i, e := range c.Effects {
		field := fmt.Sprintf("effect %q (effects[%d])", e.Key, i)
		prg, est, err := vm.compileExpr(field, e.Expression, false)
		if err != nil {
			return nil, err
		}
		add(field, est)
		p.effects = append(p.effects, compiledEffect{Effect: e, prg: prg})
	}
	p.estimate = total
	p.params = emptyMap
	if c.Params != nil {
		p.params = toCEL(c.Params)
	}
	if total == math.MaxUint64 {
		return nil, fmt.Errorf("%w: worst-case cost is unbounded (%s)", ErrCostEstimate, worst)
	}
	if total > vm.cfg.DeployCostLimit {
		return nil, fmt.Errorf("%w: worst-case cost %d exceeds the deploy limit %d (largest: %s at %d)",
			ErrCostEstimate, total, vm.cfg.DeployCostLimit, worst, worstCost)
	}
	return p, nil
}

func satAdd(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// compileExpr parses, type-checks, vets and estimates one expression.
func (vm *VM) compileExpr(field, src string, condition bool) (cel.Program, uint64, error) {
	ast, iss := vm.env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, 0, fmt.Errorf("%w: %s: %s", ErrCompile, field, iss.Err())
	}
	if err := rejectDoubles(field, ast); err != nil {
		return nil, 0, err
	}
	out := ast.OutputType()
	if condition && out.Kind() != types.BoolKind && out.Kind() != types.DynKind {
		// dyn (e.g. consent(...).granted) is checked at run time.
		return nil, 0, fmt.Errorf("%w: %s: a condition must be bool, this is %s", ErrCompile, field, out)
	}
	if !condition {
		switch out.Kind() {
		case types.BoolKind, types.IntKind, types.UintKind, types.StringKind, types.BytesKind,
			types.NullTypeKind, types.ListKind, types.MapKind, types.DynKind:
		default:
			return nil, 0, fmt.Errorf("%w: %s: an effect cannot store a value of type %s", ErrCompile, field, out)
		}
	}
	est, err := vm.env.EstimateCost(ast, estimator{cfg: vm.cfg})
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %s: estimating cost: %v", ErrCostEstimate, field, err)
	}
	prg, err := vm.env.Program(ast, vm.progOpts...)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %s: %v", ErrCompile, field, err)
	}
	return prg, est.Max, nil
}

// rejectDoubles fails if any subexpression has a type involving double:
// floating point never enters a contract (invariant 4).
func rejectDoubles(field string, ast *cel.Ast) error {
	native := ast.NativeRep()
	var ids []int64
	for id, t := range native.TypeMap() {
		if hasDouble(t, 0) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	loc := native.SourceInfo().GetStartLocation(ids[0])
	return fmt.Errorf("%w: %s: floating point is not allowed (line %d, column %d); use integers",
		ErrCompile, field, loc.Line(), loc.Column()+1)
}

func hasDouble(t *types.Type, depth int) bool {
	if t == nil || depth > 16 {
		return false
	}
	if t.Kind() == types.DoubleKind {
		return true
	}
	for _, p := range t.Parameters() {
		if hasDouble(p, depth+1) {
			return true
		}
	}
	return false
}

// Execute compiles c (or takes it from the cache) and executes it. See
// Program.Execute.
func (vm *VM) Execute(c *Contract, view StateView, state map[string]any, call *Call) (*Result, error) {
	p, err := vm.Compile(c)
	if err != nil {
		return nil, err
	}
	return p.Execute(view, state, call)
}

// Execute runs the contract for one call.
//
// Deny rules are evaluated first, in declaration order; the first that
// matches decides. Then allow rules, in order; the first that matches
// decides. No match denies with ReasonNoRule. When allowed, every effect is
// evaluated against the state passed in and the results form
// Result.Effects. An evaluation error in any rule or effect denies, naming
// it; going over Config.ExecCostLimit denies with ReasonOverBudget.
//
// The returned error is non-nil only for a malformed call or state
// (ErrInvalidCall, ErrInvalidValue: deterministic, the input is rejected)
// or a failed view (ErrView: fail closed, no decision).
func (p *Program) Execute(view StateView, state map[string]any, call *Call) (*Result, error) {
	if err := call.validate(p.cfg); err != nil {
		return nil, err
	}
	if view == nil {
		return nil, fmt.Errorf("%w: no state view", ErrView)
	}
	stateVal, err := p.stateValue(state)
	if err != nil {
		return nil, err
	}
	attrs := emptyMap
	if len(call.Attrs) > 0 {
		attrs = toCEL(stringMap(call.Attrs))
	}
	act := &activation{call: call, roles: stringList(sortedUnique(call.Roles)), attrs: attrs,
		params: p.params, state: stateVal, contract: p.contract.ID, owner: p.contract.Owner}
	h := &host{view: view, cfg: p.cfg, blockMs: call.BlockTime}
	vars, err := cel.FunctionVars(act, h.functions())
	if err != nil {
		return nil, fmt.Errorf("contracts: binding host functions: %w", err)
	}
	ex := execution{p: p, vars: vars, host: h, res: &Result{Version: p.version}}
	return ex.run()
}

func stringMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (p *Program) stateValue(state map[string]any) (ref.Val, error) {
	if len(state) == 0 {
		return emptyMap, nil
	}
	n, err := normalize(state, "state", 1, limitsOf(p.cfg))
	if err != nil {
		return nil, err
	}
	b, err := codec.Marshal(n)
	if err != nil {
		return nil, fmt.Errorf("%w: state: %v", ErrInvalidValue, err)
	}
	if len(b) > p.cfg.MaxStateBytes {
		return nil, fmt.Errorf("%w: state: %d bytes encoded, limit %d", ErrInvalidValue, len(b), p.cfg.MaxStateBytes)
	}
	return toCEL(n), nil
}

type execution struct {
	p    *Program
	vars interpreter.Activation
	host *host
	res  *Result
	used uint64
}

// emptyMap is the immutable empty CEL map bound for absent params, state or attrs.
var emptyMap = toCEL(map[string]any{})

// errOverBudget is internal: it stops an execution that went over budget.
var errOverBudget = errors.New(ReasonOverBudget)

func (ex *execution) run() (*Result, error) {
	for _, r := range ex.p.deny {
		matched, err := ex.evalRule(r)
		if err != nil || ex.host.err != nil {
			return ex.finish(r.Name, err)
		}
		if matched {
			return ex.decide(Deny, r, "denied by rule "+r.Name), nil
		}
	}
	for _, r := range ex.p.allow {
		matched, err := ex.evalRule(r)
		if err != nil || ex.host.err != nil {
			return ex.finish(r.Name, err)
		}
		if matched {
			return ex.applyEffects(r)
		}
	}
	ex.res.Decision, ex.res.Reason, ex.res.Cost = Deny, ReasonNoRule, ex.used
	return ex.res, nil
}

// finish turns an evaluation failure into a deny, or a view failure into an error.
func (ex *execution) finish(name string, err error) (*Result, error) {
	if ex.host.err != nil {
		return nil, ex.host.err
	}
	ex.res.Decision, ex.res.Rule, ex.res.Cost = Deny, name, ex.used
	if errors.Is(err, errOverBudget) {
		ex.res.Reason = ReasonOverBudget
	} else {
		ex.res.Reason = err.Error()
	}
	return ex.res, nil
}

func (ex *execution) decide(d Decision, r compiledRule, reason string) *Result {
	ex.res.Decision, ex.res.Reason, ex.res.Rule, ex.res.Cost = d, reason, r.Name, ex.used
	if len(r.Flags) > 0 {
		ex.res.Flags = r.Flags
	}
	return ex.res
}

func (ex *execution) evalRule(r compiledRule) (bool, error) {
	out, err := ex.eval(r.prg, "rule "+r.Name)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok { // the checker guarantees bool; kept as a deterministic failure
		return false, fmt.Errorf("rule %s: condition returned %s, not bool", r.Name, out.Type().TypeName())
	}
	return bool(b), nil
}

// eval runs one program under the remaining budget. The budget is
// cumulative: a program is stopped by CEL at ExecCostLimit, and the call is
// over budget as soon as the sum of actual costs exceeds it, so the outcome
// is the same on every node.
func (ex *execution) eval(prg cel.Program, what string) (out ref.Val, err error) {
	var cost uint64
	defer func() {
		if r := recover(); r != nil { // last resort: CEL recovers its own panics
			out, err = nil, fmt.Errorf("%s: internal error: %v", what, r)
		}
		ex.used = satAdd(ex.used, cost)
		if ex.used > ex.p.cfg.ExecCostLimit {
			out, err = nil, errOverBudget
		}
	}()
	out, det, err := prg.Eval(ex.vars)
	if det != nil && det.ActualCost() != nil {
		cost = *det.ActualCost()
	}
	if err != nil {
		var cancelled interpreter.EvalCancelledError
		if errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded {
			cost = max(cost, ex.p.cfg.ExecCostLimit+1)
			return nil, errOverBudget
		}
		return nil, fmt.Errorf("%s: evaluation error: %s", what, cleanError(err))
	}
	if types.IsError(out) {
		return nil, fmt.Errorf("%s: evaluation error: %v", what, out)
	}
	return out, nil
}

// cleanError trims CEL's error text to its message.
func cleanError(err error) string {
	return strings.TrimSpace(err.Error())
}

func (ex *execution) applyEffects(r compiledRule) (*Result, error) {
	if len(ex.p.effects) == 0 {
		return ex.decide(Allow, r, "allowed by rule "+r.Name), nil
	}
	lim := limitsOf(ex.p.cfg)
	effects := make(map[string]any, len(ex.p.effects))
	for _, e := range ex.p.effects {
		what := "effect " + e.Key
		out, err := ex.eval(e.prg, what)
		if err == nil {
			var v any
			v, err = fromCEL(out, what, 1, lim)
			if err == nil {
				effects[e.Key] = v
				continue
			}
			err = fmt.Errorf("%s: evaluation error: %w", what, err)
		}
		if ex.host.err != nil {
			return nil, ex.host.err
		}
		return ex.finish(e.Key, err)
	}
	b, err := codec.Marshal(effects)
	if err != nil {
		return ex.finish(ex.p.effects[0].Key, fmt.Errorf("effects: %v", err))
	}
	if len(b) > ex.p.cfg.MaxStateBytes {
		return ex.finish(ex.p.effects[0].Key, fmt.Errorf("effects: new state is %d bytes encoded, limit %d", len(b), ex.p.cfg.MaxStateBytes))
	}
	res := ex.decide(Allow, r, "allowed by rule "+r.Name)
	res.Effects = effects
	return res, nil
}

// activation binds the contract variables for one execution.
type activation struct {
	call                        *Call
	roles, attrs, params, state ref.Val
	contract, owner             string
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case varRequester:
		return types.String(a.call.Requester), true
	case varRoles:
		return a.roles, true
	case varAction:
		return types.String(a.call.Action), true
	case varPurpose:
		return types.String(a.call.Purpose), true
	case varPatient:
		return types.String(a.call.Patient), true
	case varResource:
		return types.String(a.call.Resource), true
	case varSegment:
		return types.String(a.call.Segment), true
	case varRisk:
		return types.Int(a.call.Risk), true
	case varAttrs:
		return a.attrs, true
	case varTime:
		return types.Int(a.call.BlockTime), true
	case varHeight:
		return types.Int(int64(a.call.Height)), true
	case varParams:
		return a.params, true
	case varState:
		return a.state, true
	case varContract:
		return types.String(a.contract), true
	case varOwner:
		return types.String(a.owner), true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }
