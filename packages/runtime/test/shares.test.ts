// Network shares per platform (issue 13) and locked files: which folders take the polling route,
// and which open/read errors mean "the writer still holds the file" (waited for, not an error).
import fs from 'node:fs';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { FileWaiter } from '../src/actors.js';
import { lockedByWriter, mountOf, settleLocked, shareInfo } from '../src/index.js';
import { NotFoundError } from '../src/errors.js';

describe('network share detection', () => {
  it('Linux: statfs f_type decides (this machine: the temp folder is local)', () => {
    expect(shareInfo(os.tmpdir(), { platform: 'linux' }).network).toBe(false);
    expect(shareInfo('/mnt/scan', { platform: 'linux', statfsType: () => 0xff534d42 })).toEqual({ network: true, how: 'statfs 0xff534d42 (cifs)' });
    expect(shareInfo('/mnt/scan', { platform: 'linux', statfsType: () => 0x6969 }).network).toBe(true);
    expect(shareInfo('/mnt/scan', { platform: 'linux', statfsType: () => 0xfe534d42 }).network).toBe(true);
    expect(shareInfo('/mnt/scan', { platform: 'linux', statfsType: () => 0xef53 }).network).toBe(false); // ext4
  });

  it('Linux: /proc/mounts decides when statfs cannot (longest mount point, escaped spaces)', () => {
    const mounts = [
      '/dev/sda1 / ext4 rw,relatime 0 0',
      '//scanner/export /mnt/scan cifs rw,vers=3.0 0 0',
      'server:/data /mnt/nfs\\040share nfs4 rw 0 0',
      'sshfs#u@h:/x /mnt/scan/local fuse.sshfs rw 0 0',
      'tmpfs /mnt/scan-other tmpfs rw 0 0',
    ].join('\n');
    const probe = (dir: string) => shareInfo(dir, { platform: 'linux', statfsType: () => { throw new Error('ENOENT'); }, mounts: () => mounts });
    expect(probe('/mnt/scan/20240101/run1')).toEqual({ network: true, how: 'mount cifs on /mnt/scan' });
    expect(probe('/mnt/nfs share/x').network).toBe(true);
    expect(probe('/mnt/scan/local/x')).toEqual({ network: true, how: 'mount fuse.sshfs on /mnt/scan/local' });
    expect(probe('/mnt/scan-other/x').network).toBe(false); // separator-aware: not under /mnt/scan
    expect(probe('/home/u').network).toBe(false);
    // this machine's real mount table parses
    if (fs.existsSync('/proc/mounts')) expect(mountOf('/', fs.readFileSync('/proc/mounts', 'utf8'), 'linux')?.point).toBe('/');
  });

  it("macOS: the file-system type in `mount`'s output (smbfs, nfs, afpfs, webdav, macfuse)", () => {
    const mount = [
      '/dev/disk3s1s1 on / (apfs, sealed, local, read-only, journaled)',
      '/dev/disk3s5 on /System/Volumes/Data (apfs, local, journaled, nobrowse, protect)',
      '//scanuser@MRC35119._smb._tcp.local/export on /Volumes/export (smbfs, nodev, nosuid, mounted by op)',
      'nas:/vol/scan on /Volumes/nfs scan (nfs, nodev, nosuid, mounted by op)',
      'macfuse@osxfuse0 on /Volumes/sshfs (macfuse, nodev, nosuid, synchronous, mounted by op)',
    ].join('\n');
    const probe = (dir: string) => shareInfo(dir, { platform: 'darwin', mounts: () => mount });
    expect(probe('/Volumes/export/20240101')).toEqual({ network: true, how: 'mount smbfs on /Volumes/export' });
    expect(probe('/Volumes/nfs scan/a').network).toBe(true);
    expect(probe('/Volumes/sshfs/a').network).toBe(true);
    expect(probe('/Users/op/data').network).toBe(false);
  });

  it('Windows: UNC paths, and mapped drive letters by DriveType 4', () => {
    const driveType = (d: string) => (d === 'Z:' ? 4 : 3);
    const probe = (dir: string) => shareInfo(dir, { platform: 'win32', driveType });
    expect(probe('\\\\MRC35119\\export\\20240101')).toEqual({ network: true, how: 'UNC path' });
    expect(probe('//scanner/export/x').network).toBe(true);
    expect(probe('\\\\?\\UNC\\scanner\\export').network).toBe(true);
    expect(probe('\\\\?\\C:\\data').network).toBe(false);
    expect(probe('Z:\\scan\\run1')).toEqual({ network: true, how: 'Z: DriveType 4' });
    expect(probe('c:\\data')).toEqual({ network: false, how: 'C: DriveType 3' });
  });
});

describe('files locked by their writer', () => {
  it('EBUSY, ETXTBSY, EAGAIN everywhere; EPERM/EACCES on Windows and on shares; ENOENT, EIO never', () => {
    for (const code of ['EBUSY', 'ETXTBSY', 'EAGAIN']) expect(lockedByWriter(code, { platform: 'linux' }), code).toBe(true);
    for (const code of ['EPERM', 'EACCES']) {
      expect(lockedByWriter(code, { platform: 'win32' }), code).toBe(true);
      expect(lockedByWriter(code, { platform: 'linux', onShare: () => true }), code).toBe(true);
      expect(lockedByWriter(code, { platform: 'linux', onShare: () => false }), code).toBe(false);
      expect(lockedByWriter(code, { platform: 'darwin' }), code).toBe(false);
    }
    for (const code of ['ENOENT', 'EIO', 'EISDIR', undefined]) expect(lockedByWriter(code, { platform: 'win32' }), String(code)).toBe(false);
    // the stream/watch look's decision (data-interface settleLocked)
    expect(settleLocked('EBUSY', '/x/a.dcm', 'linux')).toEqual({ status: 'locked', code: 'EBUSY' });
    expect(settleLocked('EPERM', 'C:\\scan\\a.dcm', 'win32')).toEqual({ status: 'locked', code: 'EPERM' });
    expect(settleLocked('EIO', '/x/a.dcm', 'win32')).toBeUndefined();
  });

  it('the read/retry actor waits through "locked" looks and delivers the file when the lock goes', async () => {
    const looks: string[] = [];
    let n = 0;
    const waiter = new FileWaiter<string>(
      { dir: '/scan', minFileSize: 0, dicom: false, anonymize: false, demoStep: 0 },
      {
        pollIntervalMs: 20,
        validate: () => {
          n++;
          // EPERM from a Windows writer holding the file, three looks long
          const r = n <= 3 ? settleLocked('EPERM', 'C:\\scan\\a.dcm', 'win32')! : { status: 'ok' as const, value: 'bytes' };
          looks.push(r.status);
          return r;
        },
      },
      () => () => undefined,
    );
    try {
      expect(await waiter.request('a.dcm', 2, () => new NotFoundError('timed out'))).toBe('bytes');
      expect(looks).toEqual(['locked', 'locked', 'locked', 'ok']);
      // locked for the whole wait: the timeout error is told so
      n = -1000;
      const e = await waiter.request('a.dcm', 0.2, (_name, last) => new NotFoundError(`last look: ${JSON.stringify(last)}`)).catch((x: Error) => x);
      expect(String((e as Error).message)).toBe('last look: {"status":"locked","code":"EPERM"}');
      expect(waiter.state).toBe('timedOut');
    } finally {
      waiter.close();
    }
  });
});
