#include "inode_table.hpp"

#include <unistd.h>

namespace stackfs {

size_t InodeTable::KeyHash::operator()(const Key &k) const
{
	uint64_t h = static_cast<uint64_t>(k.ino) * 0x9e3779b97f4a7c15ULL;
	h ^= static_cast<uint64_t>(k.dev) + 0x7f4a7c159e3779b9ULL + (h << 6) + (h >> 2);
	return static_cast<size_t>(h ^ (h >> 29));
}

InodeTable::Shard &InodeTable::shard_of(const Key &k)
{
	return shards_[KeyHash{}(k) % kShards];
}

InodeTable::~InodeTable()
{
	clear();
}

Inode *InodeTable::acquire(int fd, const struct stat &st)
{
	Key k{st.st_dev, st.st_ino};
	Shard &s = shard_of(k);
	std::unique_lock<std::mutex> guard(s.lock);
	auto it = s.inodes.find(k);
	if (it != s.inodes.end()) {
		++it->second->nlookup;
		guard.unlock();
		close(fd);
		return it->second;
	}
	Inode *inode = new Inode;
	inode->fd = fd;
	inode->dev = st.st_dev;
	inode->ino = st.st_ino;
	inode->type = st.st_mode & S_IFMT;
	inode->nlookup = 1;
	s.inodes.emplace(k, inode);
	return inode;
}

void InodeTable::forget(Inode *inode, uint64_t n)
{
	Key k{inode->dev, inode->ino};
	Shard &s = shard_of(k);
	{
		std::lock_guard<std::mutex> guard(s.lock);
		if (inode->nlookup > n) {
			inode->nlookup -= n;
			return;
		}
		s.inodes.erase(k);
	}
	close(inode->fd);
	delete inode;
}

void InodeTable::clear()
{
	for (Shard &s : shards_) {
		std::lock_guard<std::mutex> guard(s.lock);
		for (auto &[k, inode] : s.inodes) {
			close(inode->fd);
			delete inode;
		}
		s.inodes.clear();
	}
}

} // namespace stackfs
