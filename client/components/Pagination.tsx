import Link from 'next/link'

// Paging newest first with the API's cursor: "Next" carries the cursor the
// API returned, "Newest" goes back to the first page (the browser's Back
// button walks back one page at a time). The page number is only for people.
export default function Pagination({ page, next, basePath }: { page: number; next: string | null; basePath: string }) {
  if (page <= 1 && !next) return null
  const nextHref = next ? `${basePath}?${new URLSearchParams({ after: next, page: String(page + 1) })}` : null
  return (
    <nav aria-label="Pages" className="d-flex justify-content-between align-items-center mt-4 gap-2">
      {page > 1 ? (
        <Link className="btn btn-outline-primary" href={basePath}>
          ← Newest
        </Link>
      ) : (
        <span />
      )}
      <span className="text-body-secondary">Page {page}</span>
      {nextHref ? (
        <Link className="btn btn-outline-primary" href={nextHref} rel="next">
          Next →
        </Link>
      ) : (
        <span />
      )}
    </nav>
  )
}
