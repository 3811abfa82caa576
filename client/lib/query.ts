import { pageNumber } from './paths'

export type SearchParams = Record<string, string | string[] | undefined>

/** first is a search parameter's single value (the first, if repeated). */
export function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

/**
 * listPosition reads where a paged list is: the API cursor (`after`) and the
 * page number shown to people, which means something only after a cursor.
 */
export function listPosition(query: SearchParams): { after?: string; page: number } {
  const after = first(query.after) || undefined
  return { after, page: after ? pageNumber(query.page) : 1 }
}
