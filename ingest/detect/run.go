package detect

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/o365ingest/o365ingest/ingest/sink"
)

// Run is one detection run, what the detect command and the end of a load pass do:
// evaluate the rules over [from, to), store the alerts (each once, however often it
// runs), log the new ones and, when deliver is set, send the undelivered alerts to the
// configured webhooks (client nil: a 15-second timeout). It returns every alert found and
// the new ones; a webhook failing is logged and retried by the next run, not an error.
func Run(ctx context.Context, h sink.Handle, cfg Config, from, to time.Time, deliver bool, client *http.Client, log *slog.Logger) (all, fresh []Alert, err error) {
	all, err = Evaluate(ctx, h, from, to, cfg)
	if err != nil {
		return nil, nil, err
	}
	if fresh, err = Store(ctx, h, all); err != nil {
		return nil, nil, err
	}
	for _, a := range fresh {
		log.Warn("alert", "rule", a.Rule, "severity", a.Severity, "user", a.UserID, "client_ip", a.ClientIP, "record", a.RecordID, "summary", a.Summary)
	}
	if deliver && len(cfg.Webhooks) > 0 {
		sent, failed, err := Deliver(ctx, h, cfg, client)
		if err != nil {
			return all, fresh, err
		}
		if failed > 0 {
			log.Warn("some alert deliveries failed; they are retried next run", "sent", sent, "failed", failed)
		} else if sent > 0 {
			log.Info("alerts delivered", "sent", sent)
		}
	}
	return all, fresh, nil
}
