package views

import "context"

type partialKey struct{}

// WithPartial marks ctx for an HTMX request to a page that has no fragment
// of its own: the layouts then render the page's main content alone, which
// is what such a request swaps (docs/HTTP.md, "Answers: page, fragment or JSON").
func WithPartial(ctx context.Context) context.Context {
	return context.WithValue(ctx, partialKey{}, true)
}

func partial(ctx context.Context) bool {
	p, _ := ctx.Value(partialKey{}).(bool)
	return p
}
