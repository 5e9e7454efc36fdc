package consensus

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics receives the node's measurements. Implementations must be safe for
// concurrent use and must not block: the FSM calls them inside apply.
type Metrics interface {
	// BlockCommitted is called after a block is stored, with its tx count,
	// how many txs were applied (result ok) and the apply latency (decode,
	// verify, execute, store).
	BlockCommitted(height uint64, txs, ok int, apply time.Duration)
	// BlockProposed is called on the leader with the time from cutting a
	// block to its commit on this node.
	BlockProposed(txs int, latency time.Duration)
	// MempoolSize reports the number of txs waiting.
	MempoolSize(n int)
	// BlockRejected is called for a committed entry rejected deterministically.
	BlockRejected()
	// SubscriberDropped is called when a slow subscriber is dropped.
	SubscriberDropped()
}

type nopMetrics struct{}

func (nopMetrics) BlockCommitted(uint64, int, int, time.Duration) {}
func (nopMetrics) BlockProposed(int, time.Duration)               {}
func (nopMetrics) MempoolSize(int)                                {}
func (nopMetrics) BlockRejected()                                 {}
func (nopMetrics) SubscriberDropped()                             {}

var _ Metrics = nopMetrics{}

// PrometheusMetrics implements Metrics with Prometheus collectors under the
// medchain_consensus_ namespace.
type PrometheusMetrics struct {
	txs        *prometheus.CounterVec
	blocks     prometheus.Counter
	height     prometheus.Gauge
	apply      prometheus.Histogram
	blockTime  prometheus.Histogram
	mempool    prometheus.Gauge
	rejected   prometheus.Counter
	subDropped prometheus.Counter
}

var _ Metrics = (*PrometheusMetrics)(nil)

// NewPrometheusMetrics creates the collectors and registers them with reg.
func NewPrometheusMetrics(reg prometheus.Registerer) (*PrometheusMetrics, error) {
	const ns, sub = "medchain", "consensus"
	m := &PrometheusMetrics{
		txs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "txs_committed_total",
			Help: "Txs in committed blocks, by outcome (ok or rejected)."}, []string{"outcome"}),
		blocks: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "blocks_committed_total",
			Help: "Blocks committed on this node."}),
		height: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "height",
			Help: "Height of the last committed block."}),
		apply: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "apply_seconds",
			Help: "Time to verify, execute and store one block.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		blockTime: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "block_commit_seconds",
			Help: "Leader: time from cutting a block to its commit.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		mempool: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "mempool_txs",
			Help: "Txs waiting for a block."}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "blocks_rejected_total",
			Help: "Committed log entries rejected deterministically (e.g. a stale leader's block)."}),
		subDropped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "subscribers_dropped_total",
			Help: "Block subscribers dropped for not keeping up."}),
	}
	for _, c := range []prometheus.Collector{m.txs, m.blocks, m.height, m.apply, m.blockTime, m.mempool, m.rejected, m.subDropped} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// BlockCommitted implements Metrics.
func (m *PrometheusMetrics) BlockCommitted(height uint64, txs, ok int, apply time.Duration) {
	m.txs.WithLabelValues("ok").Add(float64(ok))
	m.txs.WithLabelValues("rejected").Add(float64(txs - ok))
	m.blocks.Inc()
	m.height.Set(float64(height))
	m.apply.Observe(apply.Seconds())
}

// BlockProposed implements Metrics.
func (m *PrometheusMetrics) BlockProposed(_ int, latency time.Duration) {
	m.blockTime.Observe(latency.Seconds())
}

// MempoolSize implements Metrics.
func (m *PrometheusMetrics) MempoolSize(n int) { m.mempool.Set(float64(n)) }

// BlockRejected implements Metrics.
func (m *PrometheusMetrics) BlockRejected() { m.rejected.Inc() }

// SubscriberDropped implements Metrics.
func (m *PrometheusMetrics) SubscriberDropped() { m.subDropped.Inc() }
