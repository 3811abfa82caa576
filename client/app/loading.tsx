// Shown while a page's data loads: the shape of what is coming, not a blank.
export default function Loading() {
  return (
    <div role="status" aria-live="polite" className="placeholder-glow">
      <span className="visually-hidden">Loading…</span>
      <div className="placeholder col-6 col-md-4 mb-3 placeholder-lg rounded" style={{ height: '2.25rem' }} />
      <div className="placeholder col-10 col-md-7 mb-4 rounded" />
      <div className="row g-3">
        {[0, 1, 2].map((i) => (
          <div key={i} className="col-12 col-sm-6 col-lg-4" aria-hidden="true">
            <div className="card h-100">
              <div className="card-body">
                <div className="placeholder col-8 mb-3 rounded" />
                <div className="placeholder col-4 placeholder-lg rounded" />
              </div>
            </div>
          </div>
        ))}
      </div>
    </div>
  )
}
