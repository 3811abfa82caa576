import type { ReactNode } from 'react'

import Icon, { type IconName } from './Icon'

// What a list shows when there is nothing in it: what that means, and what to
// do next.
export default function EmptyState({ title, children, icon = 'ticket' }: { title: string; children?: ReactNode; icon?: IconName }) {
  return (
    <section className="empty-state text-center py-5 px-3" aria-label={title}>
      <Icon name={icon} size={48} className="empty-icon mb-3" />
      <h2 className="h4">{title}</h2>
      {children ? <div className="text-body-secondary">{children}</div> : null}
    </section>
  )
}
