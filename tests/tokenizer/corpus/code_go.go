package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Pool runs at most n jobs at once and stops early when ctx is cancelled.
type Pool struct {
	n    int
	wg   sync.WaitGroup
	errs chan error
}

func NewPool(n int) *Pool { return &Pool{n: n, errs: make(chan error, n)} }

func (p *Pool) Run(ctx context.Context, jobs []func(context.Context) error) error {
	sem := make(chan struct{}, p.n)
	for i, job := range jobs {
		select {
		case <-ctx.Done():
			return fmt.Errorf("job %d: %w", i, ctx.Err())
		case sem <- struct{}{}:
		}
		p.wg.Add(1)
		go func(i int, job func(context.Context) error) {
			defer func() { <-sem; p.wg.Done() }()
			if err := job(ctx); err != nil {
				select {
				case p.errs <- fmt.Errorf("job %d: %w", i, err):
				default:
				}
			}
		}(i, job)
	}
	p.wg.Wait()
	close(p.errs)
	var all []error
	for err := range p.errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	jobs := make([]func(context.Context) error, 8)
	for i := range jobs {
		d := time.Duration(i*50) * time.Millisecond
		jobs[i] = func(ctx context.Context) error { time.Sleep(d); if d > 300*time.Millisecond { return errors.New("slow") }; return nil }
	}
	fmt.Println(NewPool(3).Run(ctx, jobs))
}
