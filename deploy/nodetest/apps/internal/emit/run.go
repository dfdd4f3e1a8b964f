package emit

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// EnvName is the environment variable that sets flag name: upper case, '-' as '_'
// (-run-id ↔ RUN_ID).
func EnvName(flagName string) string {
	return strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse sets every flag of fs from its environment variable (EnvName) where that is set,
// then parses args, so a command-line flag wins over the environment.
func Parse(fs *flag.FlagSet, args []string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := os.LookupEnv(EnvName(f.Name)); ok && err == nil {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("env %s: %w", EnvName(f.Name), e)
			}
		}
	})
	if err != nil {
		return err
	}
	return fs.Parse(args)
}

// Pace calls line until total lines were written (total 0: until ctx ends) at rate lines
// per second (rate <= 0: as fast as it can). It returns nil when ctx ends or total is
// reached, and line's first error otherwise. A pause (a stopped process, a slow pipe) is not
// caught up by more than one second's worth of lines.
func Pace(ctx context.Context, rate float64, total uint64, line func() error) error {
	var done, sinceStart uint64
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for total == 0 || done < total {
		if ctx.Err() != nil {
			return nil
		}
		if rate <= 0 {
			if err := line(); err != nil {
				return err
			}
			done++
			continue
		}
		due := uint64(time.Since(start).Seconds()*rate) + 1
		if due > sinceStart+uint64(rate)+1 {
			// Far behind: restart the clock instead of bursting.
			start, sinceStart, due = time.Now(), 0, 1
		}
		for sinceStart < due && (total == 0 || done < total) && ctx.Err() == nil {
			if err := line(); err != nil {
				return err
			}
			done++
			sinceStart++
		}
		timer.Reset(time.Until(start.Add(time.Duration(float64(sinceStart) / rate * float64(time.Second)))))
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
	}
	return nil
}
