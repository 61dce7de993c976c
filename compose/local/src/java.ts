import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

interface Jdk {
  java: string;
  major: number;
}

function majorOf(home: string): number | undefined {
  const release = join(home, 'release');
  if (!existsSync(release)) return undefined;
  const match = /JAVA_VERSION="(\d+)/.exec(readFileSync(release, 'utf8'));
  return match?.[1] ? Number(match[1]) : undefined;
}

function candidates(): Jdk[] {
  const found: Jdk[] = [];
  const add = (home: string | undefined) => {
    if (!home) return;
    const java = join(home, 'bin', 'java');
    const major = majorOf(home);
    if (major !== undefined && existsSync(java)) found.push({ java, major });
  };
  add(process.env.JAVA_HOME);
  // `java` on the PATH: the JVM reports its own home.
  const onPath = spawnSync('java', ['-XshowSettings:properties', '-version'], { encoding: 'utf8' });
  add(/java\.home = (.+)/.exec(onPath.stderr ?? '')?.[1]?.trim());
  if (existsSync('/usr/lib/jvm')) {
    for (const entry of readdirSync('/usr/lib/jvm')) add(join('/usr/lib/jvm', entry));
  }
  return found;
}

/**
 * A java binary of at least the given major version. `preferNewest` picks the newest found (Apicurio
 * 3 needs 21+); otherwise the oldest that is new enough (Kafka runs on the machine's default 17).
 */
export function findJava(minMajor: number, preferNewest = false): string {
  const usable = candidates().filter((jdk) => jdk.major >= minMajor);
  usable.sort((a, b) => (preferNewest ? b.major - a.major : a.major - b.major));
  const pick = usable[0];
  if (!pick) {
    throw new Error(
      `no Java ${minMajor}+ found (looked at JAVA_HOME, the java on PATH and /usr/lib/jvm/*); install a JDK ${minMajor} or newer`,
    );
  }
  return pick.java;
}
