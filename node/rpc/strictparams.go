package rpc

// The params objects below refuse keys their method does not take, as the
// others in views.go do (see strict): a misspelt optional key is -32602
// naming it, never a silently ignored filter or option.

// UnmarshalJSON refuses unknown keys.
func (p *TransferLeaderParams) UnmarshalJSON(b []byte) error {
	type plain TransferLeaderParams
	return strict(b, (*plain)(p))
}

// UnmarshalJSON refuses unknown keys.
func (p *CreateParams) UnmarshalJSON(b []byte) error {
	type plain CreateParams
	return strict(b, (*plain)(p))
}

// UnmarshalJSON refuses unknown keys.
func (p *ContractTxParams) UnmarshalJSON(b []byte) error {
	type plain ContractTxParams
	return strict(b, (*plain)(p))
}

// UnmarshalJSON refuses unknown keys.
func (p *SimulateParams) UnmarshalJSON(b []byte) error {
	type plain SimulateParams
	return strict(b, (*plain)(p))
}

// UnmarshalJSON refuses unknown keys.
func (p *ContractGetParams) UnmarshalJSON(b []byte) error {
	type plain ContractGetParams
	return strict(b, (*plain)(p))
}

// UnmarshalJSON refuses unknown keys.
func (p *PageParams) UnmarshalJSON(b []byte) error {
	type plain PageParams
	return strict(b, (*plain)(p))
}

// UnmarshalJSON refuses unknown keys.
func (p *AlgorithmsParams) UnmarshalJSON(b []byte) error {
	type plain AlgorithmsParams
	return strict(b, (*plain)(p))
}

// UnmarshalJSON refuses unknown keys.
func (p *EHRStatusParams) UnmarshalJSON(b []byte) error {
	type plain EHRStatusParams
	return strict(b, (*plain)(p))
}

// UnmarshalJSON refuses unknown keys.
func (p *FHIRResourceParams) UnmarshalJSON(b []byte) error {
	type plain FHIRResourceParams
	return strict(b, (*plain)(p))
}

// UnmarshalJSON refuses unknown keys.
func (p *FHIRSubmitParams) UnmarshalJSON(b []byte) error {
	type plain FHIRSubmitParams
	return strict(b, (*plain)(p))
}

// UnmarshalJSON refuses unknown keys.
func (p *FHIRSearchParams) UnmarshalJSON(b []byte) error {
	type plain FHIRSearchParams
	return strict(b, (*plain)(p))
}

// UnmarshalJSON refuses unknown keys.
func (p *ChallengeParams) UnmarshalJSON(b []byte) error {
	type plain ChallengeParams
	return strict(b, (*plain)(p))
}

// UnmarshalJSON refuses unknown keys.
func (p *LoginParams) UnmarshalJSON(b []byte) error {
	type plain LoginParams
	return strict(b, (*plain)(p))
}

// UnmarshalJSON refuses unknown keys.
func (p *RefreshParams) UnmarshalJSON(b []byte) error {
	type plain RefreshParams
	return strict(b, (*plain)(p))
}

// UnmarshalJSON refuses unknown keys.
func (p *ExportParams) UnmarshalJSON(b []byte) error {
	type plain ExportParams
	return strict(b, (*plain)(p))
}

// UnmarshalJSON refuses unknown keys.
func (p *ErasureStatusParams) UnmarshalJSON(b []byte) error {
	type plain ErasureStatusParams
	return strict(b, (*plain)(p))
}

// UnmarshalJSON refuses unknown keys.
func (p *StatsParams) UnmarshalJSON(b []byte) error {
	type plain StatsParams
	return strict(b, (*plain)(p))
}
