package sink

// InjectFailure makes s call f at each stage of Load, inside its transaction; an error
// from f fails the Load. Tests use it to check that a failure leaves nothing behind.
func InjectFailure(s Sink, f func(stage string) error) {
	s.(interface{ setHook(func(string) error) }).setHook(f)
}

// The stages InjectFailure's function sees.
const (
	StageRecords = stageRecords
	StageLedger  = stageLedger
)
