package consensus

// SetApplyHook makes every FSM.Apply call h with the entry's index first,
// until the returned function restores the default (no hook).
func SetApplyHook(h func(index uint64)) (restore func()) {
	applyHook.Store(&h)
	return func() { applyHook.Store(nil) }
}
