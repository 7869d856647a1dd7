package faults_test

import (
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/o365ingest/o365ingest/ingest/sink/sinktest"
)

// TestSoak repeats the API fault scenarios with random seeds and all the emulator's
// faults on at once, on every sink in turn, for O365INGEST_SOAK (a duration, e.g. 10m).
// It is skipped when the variable is not set:
//
//	O365INGEST_SOAK=5m go test -run TestSoak -timeout 0 -v ./ingest/faults/
func TestSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("O365INGEST_SOAK"))
	if err != nil || d <= 0 {
		t.Skip("set O365INGEST_SOAK=10m to soak")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	scenarios := apiScenarios()
	end := time.Now().Add(d)
	drivers := drivers(t)
	rounds := 0
	for i := 0; time.Now().Before(end); i++ {
		sc := scenarios[rng.IntN(len(scenarios))]
		sc.emu.Seed = rng.Int64()
		if rng.IntN(2) == 0 {
			// Everything else the emulator can do wrong, on top.
			sc.emu.ThrottleRate = max(sc.emu.ThrottleRate, 0.05)
			sc.emu.ErrorRate = max(sc.emu.ErrorRate, 0.05)
			sc.emu.TruncateRate = max(sc.emu.TruncateRate, 0.05)
			sc.emu.DuplicateRate = max(sc.emu.DuplicateRate, 0.05)
			sc.emu.LateRate = max(sc.emu.LateRate, 0.1)
			sc.emu.TokenLifetime = 2 * time.Second
		}
		sc.emu.RecordsPerDay = 100 + rng.IntN(400)
		driver := drivers[i%len(drivers)]
		ok := t.Run(driver+"/"+sc.name, func(t *testing.T) {
			runAPIScenario(t, sinktest.Open(t, driver), sc)
		})
		rounds++
		if !ok {
			t.Fatalf("round %d (seed %d, emulator %+v) failed", i, seed, sc.emu)
		}
	}
	t.Logf("%d rounds in %s", rounds, d)
}
