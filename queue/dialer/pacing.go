package dialer

import "math"

// PaceInput is everything the predictive model looks at for one decision.
type PaceInput struct {
	Free    int     // Ready agents of the campaign not held by one of its ringing lines
	Soon    float64 // more agents expected free within the horizon
	Waiting int     // answered calls waiting for an agent right now
	Ringing int     // lines placed and not yet answered or failed

	// InFlightMean and InFlightVar are the expected number of live answers still to
	// come from the ringing lines and its variance (Σp_i, Σp_i(1−p_i), p_i each line's
	// answer probability given how long it has rung).
	InFlightMean, InFlightVar float64

	ConnectRate float64 // probability that a new dial reaches a live person
	AbandonRate float64 // measured over the rolling window
	Sample      int     // live-answered calls in the rolling window
	Limit       float64 // the abandon cap (0.03)
	MaxLines    int     // the campaign's line cap
	Pacing      PacingConfig
}

// PaceDecision is the model's answer, with the numbers that explain it.
type PaceDecision struct {
	Lines     int     // new lines to place now
	Reserve   bool    // place them one per free agent, reserving it (progressive fallback)
	Brake     float64 // 1 = no brake … 0 = full brake (no over-dial)
	Target    float64 // per-decision expected-abandon target used
	Available float64 // agents counted as available for the answers to come
	Expected  float64 // expected live answers from ringing + new lines
	Reason    string
}

// Brake is the brake factor for the abandon rate measured over the rolling window
// (abandons out of sample live-answered calls): 1 up to BrakeAt×limit, then linearly
// down to 0 at the limit (and 0 above it). The rate is first shrunk towards the
// model's own target with MinSample pseudo-calls, so that the first few abandons of
// the day do not slam the brake on a handful of calls.
func Brake(rate float64, sample int, limit float64, p PacingConfig) float64 {
	k := float64(p.MinSample)
	r := (rate*float64(sample) + k*p.TargetShare*limit) / (float64(sample) + k)
	lo := p.BrakeAt * limit
	switch {
	case r <= lo:
		return 1
	case r >= limit:
		return 0
	}
	return (limit - r) / (limit - lo)
}

// overflow is E[(X−a)+]/E[X] for X ~ Normal(mu, v): the expected share of live
// answers that find no agent.
func overflow(mu, v, a float64) float64 {
	if mu <= 0 {
		return 0
	}
	if v <= 1e-12 {
		return math.Max(0, mu-a) / mu
	}
	s := math.Sqrt(v)
	z := (mu - a) / s
	ex := (mu-a)*normCDF(z) + s*normPDF(z)
	return ex / mu
}

func normPDF(z float64) float64 { return math.Exp(-z*z/2) / math.Sqrt(2*math.Pi) }
func normCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// Pace is the predictive pacing model (docs/DIALER.md): place the largest number of
// new lines n such that, with X = live answers still to come from the ringing lines
// plus Binomial(n, p) from the new ones (normal approximation), the expected share of
// answers that find no agent, E[(X−A)+]/E[X], stays under Target, where A = free
// agents − waiting answers + brake × agents likely free within the answer horizon
// and Target = TargetShare × limit × brake. At full brake (rolling abandon rate at the
// limit) it places one reserved line per free agent not already covered: progressive.
// Lines are capped by MaxLines and MaxRatio lines per available agent.
func Pace(in PaceInput) PaceDecision {
	p := in.ConnectRate
	room := in.MaxLines - in.Ringing - in.Waiting
	br := Brake(in.AbandonRate, in.Sample, in.Limit, in.Pacing)
	d := PaceDecision{Brake: br}
	if room <= 0 {
		d.Reason = "max-lines"
		return d
	}
	if br <= 0 {
		// Progressive fallback: agents expected to be taken by answers already coming
		// are not reserved again.
		cover := int(math.Ceil(in.InFlightMean + 2*math.Sqrt(in.InFlightVar)))
		n := in.Free - in.Waiting - cover
		d.Lines, d.Reserve, d.Available, d.Expected = clamp(n, 0, room), true, float64(in.Free-in.Waiting), in.InFlightMean
		d.Reason = "brake: abandon rate at limit, progressive"
		return d
	}
	a := float64(in.Free-in.Waiting) + br*in.Pacing.SoonWeight*max(in.Soon, 0)
	d.Available = a
	d.Target = in.Pacing.TargetShare * in.Limit * br
	if a <= 0 || p <= 0 {
		d.Expected = in.InFlightMean
		d.Reason = "no agent available"
		return d
	}
	hi := clamp(int(in.Pacing.MaxRatio*a)-in.Ringing, 0, room)
	ok := func(n int) bool {
		fn := float64(n)
		return overflow(in.InFlightMean+fn*p, in.InFlightVar+fn*p*(1-p), a) <= d.Target
	}
	if hi == 0 || !ok(0) {
		d.Expected = in.InFlightMean
		d.Reason = "answers in flight cover the available agents"
		if hi == 0 {
			d.Reason = "max-ratio"
		}
		return d
	}
	lo := 0 // ok(lo) holds
	if ok(hi) {
		lo = hi
	} else {
		for hi-lo > 1 { // ok(lo) && !ok(hi)
			mid := (lo + hi) / 2
			if ok(mid) {
				lo = mid
			} else {
				hi = mid
			}
		}
	}
	d.Lines = lo
	d.Expected = in.InFlightMean + float64(lo)*p
	d.Reason = "model"
	return d
}

func clamp(n, lo, hi int) int {
	return max(lo, min(n, hi))
}
