// Keeps package-lock.json acceptable to `npm ci` when the registry in use does
// not serve every platform's build of an optional dependency.
//
// next lists its compiler for each platform as optional dependencies. When a
// registry mirror lacks some of them (here: the macOS and Windows builds),
// `npm install` skips them silently and leaves them out of the lock file, and
// `npm ci` then refuses the lock file as out of sync. This adds the missing
// entries, shaped as npm writes them for the builds that were found, so
// `npm ci` skips them on other platforms as it always does. Run it after any
// `npm install` that rewrites the lock file:
//
//   npm install && node scripts/complete-lock.mjs
import { readFileSync, writeFileSync } from 'node:fs'

const LOCK = new URL('../package-lock.json', import.meta.url)
const lock = JSON.parse(readFileSync(LOCK, 'utf8'))
const packages = lock.packages

const platform = (name) => {
  const os = name.includes('darwin') ? 'darwin' : name.includes('win32') ? 'win32' : name.includes('linux') ? 'linux' : null
  const cpu = name.includes('arm64') ? 'arm64' : name.includes('x64') ? 'x64' : null
  return os && cpu ? { os, cpu } : null
}

let added = 0
for (const [path, meta] of Object.entries(packages)) {
  for (const [dep, version] of Object.entries(meta.optionalDependencies ?? {})) {
    const key = `node_modules/${dep}`
    if (packages[key] || !/^\d+\.\d+\.\d+$/.test(version)) continue
    const where = platform(dep)
    if (!where) {
      console.warn(`${path}: optional ${dep}@${version} is missing and not a platform build; left alone`)
      continue
    }
    const sibling = Object.entries(packages).find(([k, m]) => k.startsWith(key.replace(/[^/]+$/, '')) && m.version === version && m.optional)
    packages[key] = {
      version,
      cpu: [where.cpu],
      ...(sibling?.[1].license ? { license: sibling[1].license } : {}),
      optional: true,
      os: [where.os],
      ...(sibling?.[1].engines ? { engines: sibling[1].engines } : {}),
    }
    added++
    console.log(`added ${dep}@${version} (${where.os}/${where.cpu})`)
  }
}

if (added) {
  lock.packages = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))))
  writeFileSync(LOCK, `${JSON.stringify(lock, null, 2)}\n`)
}
console.log(added ? `package-lock.json: ${added} entries added` : 'package-lock.json: complete')
