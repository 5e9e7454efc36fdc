package contracts

import (
	"fmt"
	"sync"
	"time"
	_ "time/tzdata" // zone data for hour_in and weekday_in on hosts without a zoneinfo database

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

// Names of the variables a contract expression sees.
const (
	varRequester = "requester"
	varRoles     = "requester_roles"
	varAction    = "action"
	varPurpose   = "purpose"
	varPatient   = "patient"
	varResource  = "resource"
	varSegment   = "segment"
	varRisk      = "risk"
	varAttrs     = "attrs"
	varTime      = "block_time"
	varHeight    = "block_height"
	varParams    = "params"
	varState     = "state"
	varContract  = "contract_id"
	varOwner     = "owner"
)

// Host function overload ids and their fixed costs, in CEL cost units. The
// costs are part of consensus: changing one changes results.
const (
	ovConsent = "consent_string_string"
	ovRoles   = "roles_string"
	ovHourIn  = "hour_in_string"
	ovWeekday = "weekday_in_string"
	ovMapSet  = "map_set_map_key_value"

	CostConsent = 40 // consent(patient, type)
	CostRoles   = 20 // roles(identity)
	CostHourIn  = 10 // hour_in(zone)
	CostWeekday = 10 // weekday_in(zone)
	// map_set(m, k, v) costs 1 + size(m): it copies the map.
)

// consentKeys are the keys of the map consent() returns, in order.
var consentKeys = []string{"actions", "active", "categories", "exists", "expiration", "granted", "parties", "purposes"}

// newEnv builds the CEL environment shared by every contract of a VM.
func newEnv(cfg Config) (*cel.Env, error) {
	k, v := cel.TypeParamType("K"), cel.TypeParamType("V")
	return cel.NewEnv(
		cel.Variable(varRequester, cel.StringType),
		cel.Variable(varRoles, cel.ListType(cel.StringType)),
		cel.Variable(varAction, cel.StringType),
		cel.Variable(varPurpose, cel.StringType),
		cel.Variable(varPatient, cel.StringType),
		cel.Variable(varResource, cel.StringType),
		cel.Variable(varSegment, cel.StringType),
		cel.Variable(varRisk, cel.IntType),
		cel.Variable(varAttrs, cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable(varTime, cel.IntType),
		cel.Variable(varHeight, cel.IntType),
		cel.Variable(varParams, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(varState, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(varContract, cel.StringType),
		cel.Variable(varOwner, cel.StringType),
		cel.Function("consent", cel.Overload(ovConsent, []*cel.Type{cel.StringType, cel.StringType},
			cel.MapType(cel.StringType, cel.DynType), cel.LateFunctionBinding())),
		cel.Function("roles", cel.Overload(ovRoles, []*cel.Type{cel.StringType},
			cel.ListType(cel.StringType), cel.LateFunctionBinding())),
		cel.Function("hour_in", cel.Overload(ovHourIn, []*cel.Type{cel.StringType}, cel.IntType, cel.LateFunctionBinding())),
		cel.Function("weekday_in", cel.Overload(ovWeekday, []*cel.Type{cel.StringType}, cel.IntType, cel.LateFunctionBinding())),
		cel.Function("map_set", cel.Overload(ovMapSet, []*cel.Type{cel.MapType(k, v), k, v}, cel.MapType(k, v),
			cel.FunctionBinding(mapSet))),
		cel.ParserRecursionLimit(48),
		cel.ParserExpressionSizeLimit(cfg.MaxSourceLen),
		cel.CostEstimatorOptions(
			cost.OverloadCostEstimate(ovConsent, fixedEstimate(CostConsent, consentResultSize(cfg))),
			cost.OverloadCostEstimate(ovRoles, fixedEstimate(CostRoles, listSize(cfg.MaxListLen, cfg.MaxStringLen))),
			cost.OverloadCostEstimate(ovHourIn, fixedEstimate(CostHourIn, nil)),
			cost.OverloadCostEstimate(ovWeekday, fixedEstimate(CostWeekday, nil)),
			cost.OverloadCostEstimate(ovMapSet, mapSetEstimate),
		),
	)
}

// programOptions are the options every compiled expression runs with.
func programOptions(cfg Config) []cel.ProgramOption {
	return []cel.ProgramOption{
		cel.CostLimit(cfg.ExecCostLimit),
		cel.CostTrackerOptions(
			cost.OverloadTracker(ovConsent, fixedTracker(CostConsent)),
			cost.OverloadTracker(ovRoles, fixedTracker(CostRoles)),
			cost.OverloadTracker(ovHourIn, fixedTracker(CostHourIn)),
			cost.OverloadTracker(ovWeekday, fixedTracker(CostWeekday)),
			cost.OverloadTracker(ovMapSet, mapSetTracker),
		),
		cel.CustomDecoratorV2(orderMaps),
	}
}

func fixedEstimate(c uint64, size *cost.SizeEstimate) cost.FunctionEstimator {
	return func(cost.Estimator, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
		return &cost.CallEstimate{CostEstimate: cost.FixedCostEstimate(c), ResultSize: size}
	}
}

func fixedTracker(c uint64) cost.FunctionTracker {
	return func([]ref.Val, ref.Val) *uint64 { return &c }
}

func mapSetEstimate(est cost.Estimator, _ *cost.AstNode, args []cost.AstNode) *cost.CallEstimate {
	if len(args) != 3 {
		return nil
	}
	sz := cost.UnknownSizeEstimate()
	if s := args[0].ComputedSize(); s != nil {
		sz = *s
	} else if s := est.EstimateSize(args[0]); s != nil {
		sz = *s
	}
	res := sz.Add(cost.FixedSizeEstimate(1))
	return &cost.CallEstimate{CostEstimate: cost.FixedCostEstimate(1).Add(sz.AsCost()), ResultSize: &res}
}

func mapSetTracker(args []ref.Val, _ ref.Val) *uint64 {
	c := uint64(1)
	if len(args) > 0 {
		if s, ok := args[0].(traits.Sizer); ok {
			if n, ok := s.Size().(types.Int); ok && n > 0 {
				c += uint64(n)
			}
		}
	}
	return &c
}

func listSize(n, elem int) *cost.SizeEstimate {
	e := cost.RangedSizeEstimate(0, uint64(elem))
	s := cost.RangedSizeEstimate(0, uint64(n))
	s.Elem = &e
	return &s
}

func consentResultSize(cfg Config) *cost.SizeEstimate {
	elem := cost.RangedSizeEstimate(0, uint64(max(cfg.MaxListLen, cfg.MaxStringLen)))
	key := cost.RangedSizeEstimate(0, 16)
	s := cost.FixedSizeEstimate(uint64(len(consentKeys)))
	s.Key, s.Elem = &key, &elem
	return &s
}

// mapSet returns a copy of m with k set to v. Pure, so statically bound.
func mapSet(args ...ref.Val) ref.Val {
	m, ok := args[0].(traits.Mapper)
	if !ok {
		return types.NewErr("map_set: first argument is %s, not a map", args[0].Type().TypeName())
	}
	entries := make(map[ref.Val]ref.Val)
	keys := make([]ref.Val, 0, 8)
	replaced := false
	for it := m.Iterator(); it.HasNext() == types.True; {
		key := it.Next()
		if key.Equal(args[1]) == types.True {
			entries[key] = args[2]
			replaced = true
		} else {
			entries[key] = m.Get(key)
		}
		keys = append(keys, key)
	}
	if !replaced {
		if _, hashable := args[1].(types.String); !hashable {
			switch args[1].(type) {
			case types.Int, types.Uint, types.Bool:
			default:
				return types.NewErr("map_set: key of type %s", args[1].Type().TypeName())
			}
		}
		entries[args[1]] = args[2]
		keys = append(keys, args[1])
	}
	sortKeys(keys)
	return &orderedMap{Mapper: types.NewRefValMap(types.DefaultTypeAdapter, entries), keys: keys}
}

// estimator bounds the sizes of the variables the VM binds, so that the
// static cost of any expression over them is finite. The bounds are the
// limits Execute enforces on its inputs (see Config).
type estimator struct{ cfg Config }

func (e estimator) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil // host functions are priced by OverloadCostEstimate
}

func (e estimator) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	str, list, coll := uint64(e.cfg.MaxStringLen), uint64(e.cfg.MaxListLen), uint64(e.cfg.MaxCollectionLen)
	path := n.Path()
	if len(path) == 0 {
		if selectsFromConsent(n.Expr()) {
			// A field of consent(...): a list of at most MaxListLen
			// identifiers, a bool or an int.
			return listSize(int(list), int(str))
		}
		return nil
	}
	var s cost.SizeEstimate
	switch path[0] {
	case varRequester, varAction, varPurpose, varPatient, varResource, varSegment, varContract, varOwner:
		s = cost.RangedSizeEstimate(0, str)
	case varRoles:
		if len(path) == 1 {
			return listSize(int(list), int(str))
		}
		s = cost.RangedSizeEstimate(0, str)
	case varAttrs:
		if len(path) == 1 {
			s = cost.RangedSizeEstimate(0, uint64(e.cfg.MaxAttrs))
			k, v := cost.RangedSizeEstimate(0, str), cost.RangedSizeEstimate(0, str)
			s.Key, s.Elem = &k, &v
			return &s
		}
		s = cost.RangedSizeEstimate(0, str)
	case varParams, varState:
		s = cost.RangedSizeEstimate(0, max(str, coll))
		if t := n.Type(); t != nil && t.Kind() == types.StringKind {
			s = cost.RangedSizeEstimate(0, str)
		}
	default:
		return nil
	}
	return &s
}

// selectsFromConsent reports whether e is consent(...).field or consent(...)["field"].
func selectsFromConsent(e celast.Expr) bool {
	if e == nil {
		return false
	}
	var operand celast.Expr
	switch e.Kind() {
	case celast.SelectKind:
		operand = e.AsSelect().Operand()
	case celast.CallKind:
		call := e.AsCall()
		if call.FunctionName() != operators.Index || len(call.Args()) != 2 {
			return false
		}
		operand = call.Args()[0]
	default:
		return false
	}
	return operand.Kind() == celast.CallKind && operand.AsCall().FunctionName() == "consent"
}

// host carries one execution's late-bound host functions. Reads from the
// view are memoized, so a rule that asks twice pays twice (fixed cost) but
// the view is read once.
type host struct {
	view     StateView
	cfg      Config
	blockMs  int64
	consents map[[2]string]ref.Val
	roles    map[string]ref.Val
	err      error // first view failure; Execute returns it, never a decision
}

func (h *host) functions() map[string]cel.LateBoundFunction {
	return map[string]cel.LateBoundFunction{
		"consent":    h.consent,
		"roles":      h.rolesOf,
		"hour_in":    h.hourIn,
		"weekday_in": h.weekdayIn,
	}
}

func (h *host) fail(err error) ref.Val {
	if h.err == nil {
		h.err = err
	}
	return types.NewErr("contracts: state view failed")
}

func (h *host) consent(_ string, args ...ref.Val) (out ref.Val) {
	if len(args) != 2 {
		return types.NewErr("consent: want 2 arguments, got %d", len(args))
	}
	p, ok1 := args[0].(types.String)
	t, ok2 := args[1].(types.String)
	if !ok1 || !ok2 {
		return types.NewErr("consent: arguments must be strings")
	}
	key := [2]string{string(p), string(t)}
	if v, ok := h.consents[key]; ok {
		return v
	}
	info, found, err := h.readConsent(key[0], key[1])
	if err != nil {
		return h.fail(err)
	}
	lists := [][]string{info.Purposes, info.Parties, info.Actions, info.Categories}
	for _, l := range lists {
		if len(l) > h.cfg.MaxListLen {
			return h.fail(fmt.Errorf("%w: consent %s/%s: list of %d, limit %d", ErrView, key[0], key[1], len(l), h.cfg.MaxListLen))
		}
	}
	if !found {
		info = ConsentInfo{}
	}
	active := found && info.Granted && (info.Expiration == 0 || h.blockMs < info.Expiration)
	vals := map[string]ref.Val{
		"actions":    stringList(sortedUnique(info.Actions)),
		"active":     types.Bool(active),
		"categories": stringList(sortedUnique(info.Categories)),
		"exists":     types.Bool(found),
		"expiration": types.Int(info.Expiration),
		"granted":    types.Bool(found && info.Granted),
		"parties":    stringList(sortedUnique(info.Parties)),
		"purposes":   stringList(sortedUnique(info.Purposes)),
	}
	m := make(map[ref.Val]ref.Val, len(vals))
	keys := make([]ref.Val, len(consentKeys))
	for i, k := range consentKeys {
		keys[i] = types.String(k)
		m[keys[i]] = vals[k]
	}
	v := &orderedMap{Mapper: types.NewRefValMap(types.DefaultTypeAdapter, m), keys: keys}
	if h.consents == nil {
		h.consents = make(map[[2]string]ref.Val)
	}
	h.consents[key] = v
	return v
}

func (h *host) readConsent(patient, typ string) (info ConsentInfo, found bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: consent %s/%s: panic: %v", ErrView, patient, typ, r)
		}
	}()
	info, found, err = h.view.Consent(patient, typ)
	if err != nil {
		err = fmt.Errorf("%w: consent %s/%s: %w", ErrView, patient, typ, err)
	}
	return info, found, err
}

func (h *host) rolesOf(_ string, args ...ref.Val) ref.Val {
	if len(args) != 1 {
		return types.NewErr("roles: want 1 argument, got %d", len(args))
	}
	id, ok := args[0].(types.String)
	if !ok {
		return types.NewErr("roles: argument must be a string")
	}
	if v, ok := h.roles[string(id)]; ok {
		return v
	}
	roles, err := h.readRoles(string(id))
	if err != nil {
		return h.fail(err)
	}
	if len(roles) > h.cfg.MaxListLen {
		return h.fail(fmt.Errorf("%w: roles %s: %d, limit %d", ErrView, id, len(roles), h.cfg.MaxListLen))
	}
	v := stringList(sortedUnique(roles))
	if h.roles == nil {
		h.roles = make(map[string]ref.Val)
	}
	h.roles[string(id)] = v
	return v
}

func (h *host) readRoles(id string) (roles []string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: roles %s: panic: %v", ErrView, id, r)
		}
	}()
	roles, err = h.view.Roles(id)
	if err != nil {
		err = fmt.Errorf("%w: roles %s: %w", ErrView, id, err)
	}
	return roles, err
}

func (h *host) localTime(fn string, args []ref.Val) (time.Time, ref.Val) {
	if len(args) != 1 {
		return time.Time{}, types.NewErr("%s: want 1 argument, got %d", fn, len(args))
	}
	z, ok := args[0].(types.String)
	if !ok {
		return time.Time{}, types.NewErr("%s: argument must be a string", fn)
	}
	loc, err := loadZone(string(z))
	if err != nil {
		return time.Time{}, types.NewErr("%s: %v", fn, err)
	}
	return time.UnixMilli(h.blockMs).In(loc), nil
}

func (h *host) hourIn(_ string, args ...ref.Val) ref.Val {
	t, errVal := h.localTime("hour_in", args)
	if errVal != nil {
		return errVal
	}
	return types.Int(t.Hour())
}

func (h *host) weekdayIn(_ string, args ...ref.Val) ref.Val {
	t, errVal := h.localTime("weekday_in", args)
	if errVal != nil {
		return errVal
	}
	return types.Int(t.Weekday())
}

// zones caches loaded locations: time.LoadLocation reads zone files, and a
// contract evaluation should not. Only valid zone names are cached, so the
// cache is bounded by the zone database (about 600 names).
var zones struct {
	sync.Mutex
	// guards the following
	m map[string]*time.Location
}

// loadZone returns the IANA zone name. The zone database is an input to
// consensus: nodes must run the same binary (time/tzdata is embedded as a
// fallback; see doc.go).
func loadZone(name string) (*time.Location, error) {
	if name == "" || len(name) > 64 {
		return nil, fmt.Errorf("time zone %q: not a zone name", name)
	}
	for i, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '/' || r == '_' || r == '-' || r == '+') {
			return nil, fmt.Errorf("time zone %q: character %q at %d not allowed", name, r, i)
		}
	}
	if name == "Local" {
		return nil, fmt.Errorf("time zone %q: the node's local zone is not deterministic", name)
	}
	zones.Lock()
	defer zones.Unlock()
	if loc, ok := zones.m[name]; ok {
		return loc, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	if zones.m == nil {
		zones.m = make(map[string]*time.Location)
	}
	zones.m[name] = loc
	return loc, nil
}
