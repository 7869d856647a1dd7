package main

import (
	"os"

	"github.com/o365ingest/o365ingest/ingest/config"
)

// defaultConfigFile is read when neither --config nor O365INGEST_CONFIG names a file.
const defaultConfigFile = "o365ingest.yaml"

// loadConfig reads the config named by --config / O365INGEST_CONFIG, else
// ./o365ingest.yaml when present, else the defaults. It also applies the config's log
// settings unless the command line set them.
func loadConfig(env *Env) (*config.Config, error) {
	path := env.ConfigPath
	if path == "" {
		if _, err := os.Stat(defaultConfigFile); err == nil {
			path = defaultConfigFile
		}
	}
	cfg := config.Default()
	var warnings []string
	if path != "" {
		var err error
		cfg, warnings, err = config.Load(path, env.Getenv)
		if err != nil {
			return nil, err
		}
	}
	level, format := env.LogLevel, env.LogFormat
	if level == "" {
		level = cfg.Log.Level
	}
	if format == "" {
		format = cfg.Log.Format
	}
	setLogger(env, level, format)
	for _, w := range warnings {
		env.Logger.Warn(w)
	}
	if env.Stop != nil {
		env.Stop.SetTimeout(cfg.Ingest.ShutdownTimeout.Std())
	}
	return cfg, nil
}
