import Link from 'next/link'

import Icon from '@/components/Icon'

export default function NotFound() {
  return (
    <div className="text-center py-5">
      <Icon name="search" size={48} className="empty-icon mb-3" />
      <h1 className="h3">Not found</h1>
      <p className="text-body-secondary">This ticket or order does not exist, or it was removed.</p>
      <Link className="btn btn-primary" href="/">
        Browse tickets for sale
      </Link>
    </div>
  )
}
