//! The system-call filter every sandboxed job runs under: a classic BPF
//! program that bubblewrap installs (`--seccomp FD`) just before it starts
//! the job, so that the filter binds the job and everything it forks, and
//! not bubblewrap's own set-up.
//!
//! Everything is allowed except the calls that reach kernel surface no
//! script needs, each answered `EPERM` (as a refused privilege is):
//!
//! - new namespaces: `unshare`, `setns`, and `clone` with a namespace flag.
//!   A nested user namespace would hand the job every capability inside
//!   it, over mount, network and keyring code written for root;
//! - the kernel keyrings (`keyctl`, `add_key`, `request_key`), shared by
//!   every process of one uid, so by every job;
//! - `bpf`, `userfaultfd`, `perf_event_open`, `io_uring_*`: large attack
//!   surfaces, the source of most recent local privilege escalations;
//! - mounts, modules, `kexec`, `reboot`, swap, `acct`, quotas, the kernel
//!   log: root's business, refused without capabilities anyway.
//!
//! `clone3` answers `ENOSYS`: its flags live in memory a filter cannot
//! read, and C libraries then fall back to `clone`, whose flags it can.
//! Any other architecture's calls (32-bit `int 0x80` on x86-64, the x32
//! ABI) kill the process: their numbers mean other calls.

/// One instruction of a classic BPF program (`struct sock_filter`).
#[derive(Clone, Copy)]
struct Insn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

// Opcodes (linux/bpf_common.h): class | size | mode, class | op | source.
const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const RET_K: u16 = 0x06; // BPF_RET | BPF_K

// Return values (linux/seccomp.h).
const ALLOW: u32 = 0x7fff_0000;
const KILL_PROCESS: u32 = 0x8000_0000;
const fn errno(e: i32) -> u32 {
    0x0005_0000 | (e as u32 & 0xffff)
}

// Offsets in `struct seccomp_data`: the call's number, the architecture, its
// first argument (the low half on little-endian machines, the only ones built for).
const NR: u32 = 0;
const ARCH: u32 = 4;
const ARG0: u32 = 16;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

/// The namespace flags of `clone` (`CLONE_NEWTIME` shares its bit with the
/// exit signal there and is not one).
const CLONE_NEW_ANY: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u32;

/// The calls refused with `EPERM`.
fn refused() -> Vec<libc::c_long> {
    let mut calls = vec![
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_bpf,
        libc::SYS_userfaultfd,
        libc::SYS_perf_event_open,
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_open_tree,
        libc::SYS_move_mount,
        libc::SYS_fsopen,
        libc::SYS_fsconfig,
        libc::SYS_fsmount,
        libc::SYS_fspick,
        libc::SYS_mount_setattr,
        libc::SYS_open_by_handle_at,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_reboot,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_acct,
        libc::SYS_quotactl,
        libc::SYS_syslog,
    ];
    #[cfg(target_arch = "x86_64")]
    calls.extend([libc::SYS_iopl, libc::SYS_ioperm]);
    calls
}

fn stmt(code: u16, k: u32) -> Insn {
    Insn { code, jt: 0, jf: 0, k }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
    Insn { code, jt, jf, k }
}

/// The program, as bubblewrap reads it from its `--seccomp` descriptor:
/// the instructions in the machine's byte order, back to back.
pub(crate) fn program() -> Vec<u8> {
    let refused = refused();
    let mut p =
        vec![stmt(LD_W_ABS, ARCH), jump(JEQ_K, AUDIT_ARCH, 1, 0), stmt(RET_K, KILL_PROCESS), stmt(LD_W_ABS, NR)];
    // x32 calls: the same numbers with bit 30 set.
    if cfg!(target_arch = "x86_64") {
        p.push(jump(JGE_K, 0x4000_0000, 0, 1));
        p.push(stmt(RET_K, KILL_PROCESS));
    }
    // After the comparisons, in this order: allow; EPERM; ENOSYS; clone's check.
    let n = refused.len();
    // Distances are counted from the instruction after the jump.
    for (i, call) in refused.iter().enumerate() {
        let to_eperm = (n - i - 1) + 2 + 1; // the rest, clone3, clone, allow
        p.push(jump(JEQ_K, *call as u32, to_eperm as u8, 0));
    }
    p.push(jump(JEQ_K, libc::SYS_clone3 as u32, 3, 0));
    p.push(jump(JEQ_K, libc::SYS_clone as u32, 3, 0));
    p.push(stmt(RET_K, ALLOW));
    p.push(stmt(RET_K, errno(libc::EPERM)));
    p.push(stmt(RET_K, errno(libc::ENOSYS)));
    // clone: refused when it asks for a namespace.
    p.push(stmt(LD_W_ABS, ARG0));
    p.push(jump(JSET_K, CLONE_NEW_ANY, 0, 1));
    p.push(stmt(RET_K, errno(libc::EPERM)));
    p.push(stmt(RET_K, ALLOW));
    let mut bytes = Vec::with_capacity(p.len() * 8);
    for insn in p {
        bytes.extend_from_slice(&insn.code.to_ne_bytes());
        bytes.push(insn.jt);
        bytes.push(insn.jf);
        bytes.extend_from_slice(&insn.k.to_ne_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny interpreter of the instructions used, to check the jumps.
    fn run(prog: &[u8], arch: u32, nr: u32, arg0: u32) -> u32 {
        let insns: Vec<Insn> = prog
            .chunks(8)
            .map(|c| Insn {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = insns[pc];
            pc += 1;
            match i.code {
                LD_W_ABS => {
                    acc = match i.k {
                        NR => nr,
                        ARCH => arch,
                        ARG0 => arg0,
                        other => panic!("load of {other}"),
                    }
                }
                RET_K => return i.k,
                JEQ_K | JGE_K | JSET_K => {
                    let taken = match i.code {
                        JEQ_K => acc == i.k,
                        JGE_K => acc >= i.k,
                        _ => acc & i.k != 0,
                    };
                    pc += usize::from(if taken { i.jt } else { i.jf });
                }
                other => panic!("opcode {other}"),
            }
        }
    }

    #[test]
    fn the_filter_refuses_what_it_lists_and_allows_the_rest() {
        let p = program();
        let call = |nr: libc::c_long, arg0: u32| run(&p, AUDIT_ARCH, nr as u32, arg0);
        for nr in refused() {
            assert_eq!(call(nr, 0), errno(libc::EPERM), "call {nr}");
        }
        for nr in [libc::SYS_read, libc::SYS_write, libc::SYS_openat, libc::SYS_execve, libc::SYS_exit_group] {
            assert_eq!(call(nr, 0), ALLOW, "call {nr}");
        }
        assert_eq!(call(libc::SYS_clone3, 0), errno(libc::ENOSYS));
        // fork's flags (SIGCHLD), a thread's, and namespaces.
        assert_eq!(call(libc::SYS_clone, libc::SIGCHLD as u32), ALLOW);
        let thread =
            (libc::CLONE_VM | libc::CLONE_FS | libc::CLONE_FILES | libc::CLONE_SIGHAND | libc::CLONE_THREAD) as u32;
        assert_eq!(call(libc::SYS_clone, thread), ALLOW);
        assert_eq!(call(libc::SYS_clone, libc::CLONE_NEWUSER as u32 | 17), errno(libc::EPERM));
        assert_eq!(call(libc::SYS_clone, libc::CLONE_NEWNET as u32), errno(libc::EPERM));
        assert_eq!(run(&p, 0x4000_0003, libc::SYS_read as u32, 0), KILL_PROCESS, "i386");
        if cfg!(target_arch = "x86_64") {
            assert_eq!(call(0x4000_0000 | libc::SYS_read, 0), KILL_PROCESS, "x32");
        }
    }
}
